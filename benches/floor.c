/* The floor of the capture benchmark: a bare libpcap loop that reads every packet of a
 * capture file and touches its bytes, nothing more. Whatever aigress does per packet
 * costs on top of this. Built by scripts/bench-compare: cc -O2 floor.c -lpcap */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>

int main(int argc, char **argv) {
    char err[PCAP_ERRBUF_SIZE];
    if (argc != 2) {
        fprintf(stderr, "usage: floor FILE\n");
        return 2;
    }
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) {
        fprintf(stderr, "floor: %s\n", err);
        return 1;
    }
    struct pcap_pkthdr *h;
    const u_char *data;
    uint64_t packets = 0, bytes = 0, sum = 0;
    int rc;
    /* Ends at the end of the file (-2) or on a read error (-1). */
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        packets++;
        bytes += h->caplen;
        if (h->caplen > 0)
            sum += data[h->caplen - 1];
    }
    if (rc == -1) {
        fprintf(stderr, "floor: %s\n", pcap_geterr(p));
        return 1;
    }
    printf("%llu packets %llu bytes (%llu)\n", (unsigned long long)packets,
           (unsigned long long)bytes, (unsigned long long)sum);
    pcap_close(p);
    return 0;
}
