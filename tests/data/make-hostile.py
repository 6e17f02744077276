#!/usr/bin/env python3
"""Writes captures/made__hostile_names.pcap: names no real client sends, which a hostile one
can, aimed at every database the inventory writes to.

A workstation (192.168.77.21) asks the resolver (192.168.77.53) for api.openai.com and gets
104.18.7.192. It then opens four connections to that address:

  1. port 443, a TLS 1.3 ClientHello whose server_name is "api.openai.com\\0evil" (a NUL byte:
     PostgreSQL refuses it in text, SQLSTATE 22021);
  2. port 443, a ClientHello whose server_name is 5,000 bytes long (labels of 62 "a" before
     "api.openai.com": too long for a PostgreSQL index entry, SQLSTATE 54000), spread over
     four TCP segments;
  3. port 80, an HTTP request to api.openai.com whose User-Agent holds an ESC, a NUL and a
     backslash;
  4. port 80, an HTTP request whose User-Agent is 5,000 bytes long.

Every connection has its handshake, the server's acknowledgements and a FIN exchange.
Ethernet, IPv4, UDP and TCP are written here with their checksums (no scapy needed); the
output is the same on every run (fixed times, randoms and ports).

Usage: python3 tests/data/make-hostile.py [OUT.pcap]
"""
import hashlib
import struct
import sys

CLIENT = "192.168.77.21"
RESOLVER = "192.168.77.53"
SERVER = "104.18.7.192"
CLIENT_MAC = bytes.fromhex("020000000015")
GATEWAY_MAC = bytes.fromhex("020000000001")
START = 1768471200  # 2026-01-15T10:00:00Z
NAME = b"api.openai.com"
NUL_NAME = NAME + b"\x00evil"
# 9 + 79 × 63 + 14 = 5,000 bytes, every label within DNS's 63.
LONG_NAME = b"a" * 8 + b"." + b"".join([b"a" * 62 + b"."] * 79) + NAME
MSS = 1460


def checksum(data):
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip4(text):
    return bytes(int(x) for x in text.split("."))


class Capture:
    def __init__(self):
        self.frames = []
        self.ip_id = 1
        self.usec = 0

    def frame(self, src, dst, proto, payload):
        """An Ethernet frame carrying an IPv4 datagram from src to dst."""
        self.ip_id += 1
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), self.ip_id, 0x4000, 64,
                             proto, 0, ip4(src), ip4(dst))
        header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
        outbound = src == CLIENT
        macs = (GATEWAY_MAC, CLIENT_MAC) if outbound else (CLIENT_MAC, GATEWAY_MAC)
        self.usec += 1000
        self.frames.append((self.usec, macs[0] + macs[1] + b"\x08\x00" + header + payload))

    def udp(self, src, sport, dst, dport, data):
        length = 8 + len(data)
        pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 17, length)
        head = struct.pack("!HHHH", sport, dport, length, 0)
        head = head[:6] + struct.pack("!H", checksum(pseudo + head + data) or 0xFFFF)
        self.frame(src, dst, 17, head + data)

    def tcp(self, src, sport, dst, dport, seq, ack, flags, data=b""):
        options = struct.pack("!BBH", 2, 4, MSS) if flags & 0x02 else b""
        offset = (20 + len(options)) // 4
        head = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset << 4, flags, 64240, 0, 0)
        head += options
        pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 6, len(head) + len(data))
        sum_ = checksum(pseudo + head + data)
        head = head[:16] + struct.pack("!H", sum_) + head[18:]
        self.frame(src, dst, 6, head + data)

    def connection(self, sport, dport, request, reply=b""):
        """A whole TCP connection: handshake, the request in MSS-sized segments, the
        server's acknowledgements (and reply), and a FIN exchange."""
        c, s = 1000 + sport, 5000 + sport
        SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01
        self.tcp(CLIENT, sport, SERVER, dport, c, 0, SYN)
        self.tcp(SERVER, dport, CLIENT, sport, s, c + 1, SYN | ACK)
        c, s = c + 1, s + 1
        self.tcp(CLIENT, sport, SERVER, dport, c, s, ACK)
        for at in range(0, len(request), MSS):
            chunk = request[at:at + MSS]
            self.tcp(CLIENT, sport, SERVER, dport, c, s, PSH | ACK, chunk)
            c += len(chunk)
            self.tcp(SERVER, dport, CLIENT, sport, s, c, ACK)
        if reply:
            self.tcp(SERVER, dport, CLIENT, sport, s, c, PSH | ACK, reply)
            s += len(reply)
            self.tcp(CLIENT, sport, SERVER, dport, c, s, ACK)
        self.tcp(CLIENT, sport, SERVER, dport, c, s, FIN | ACK)
        self.tcp(SERVER, dport, CLIENT, sport, s, c + 1, FIN | ACK)
        self.tcp(CLIENT, sport, SERVER, dport, c + 1, s + 1, ACK)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for usec, data in self.frames:
                f.write(struct.pack("<IIII", START + usec // 1_000_000, usec % 1_000_000,
                                    len(data), len(data)))
                f.write(data)


def dns_name(name):
    return b"".join(bytes([len(label)]) + label for label in name.split(b".")) + b"\x00"


def dns(query_id, answer):
    flags = 0x8180 if answer else 0x0100
    message = struct.pack("!HHHHHH", query_id, flags, 1, 1 if answer else 0, 0, 0)
    message += dns_name(NAME) + struct.pack("!HH", 1, 1)
    if answer:
        message += struct.pack("!HHHIH", 0xC00C, 1, 1, 300, 4) + ip4(SERVER)
    return message


def vec(width, data):
    return len(data).to_bytes(width, "big") + data


def extension(kind, data):
    return struct.pack("!H", kind) + vec(2, data)


def client_hello(server_name, seed):
    random = hashlib.sha256(seed + b"random").digest()
    session = hashlib.sha256(seed + b"session").digest()
    share = hashlib.sha256(seed + b"x25519").digest()
    extensions = b"".join([
        extension(0, vec(2, b"\x00" + vec(2, server_name))),
        extension(10, vec(2, struct.pack("!HH", 0x001D, 0x0017))),
        extension(13, vec(2, struct.pack("!HHH", 0x0403, 0x0804, 0x0401))),
        extension(16, vec(2, vec(1, b"h2") + vec(1, b"http/1.1"))),
        extension(43, vec(1, struct.pack("!HH", 0x0304, 0x0303))),
        extension(45, vec(1, b"\x01")),
        extension(51, vec(2, struct.pack("!HH", 0x001D, 32) + share)),
    ])
    body = (struct.pack("!H", 0x0303) + random + vec(1, session)
            + vec(2, struct.pack("!HHHH", 0x1301, 0x1302, 0x1303, 0xC02F))
            + vec(1, b"\x00") + vec(2, extensions))
    handshake = b"\x01" + vec(3, body)
    return b"\x16\x03\x01" + vec(2, handshake)


def http_request(user_agent):
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nUser-Agent: "
            + user_agent + b"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/captures/made__hostile_names.pcap"
    assert len(LONG_NAME) == 5000, len(LONG_NAME)
    cap = Capture()
    cap.udp(CLIENT, 40053, RESOLVER, 53, dns(0x4E55, False))
    cap.udp(RESOLVER, 53, CLIENT, 40053, dns(0x4E55, True))
    cap.connection(50001, 443, client_hello(NUL_NAME, b"nul"))
    cap.connection(50002, 443, client_hello(LONG_NAME, b"long"))
    reply = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"
    cap.connection(50003, 80, http_request(b"python-requests/2.32\x1b[31m\x00evil\\x00"), reply)
    long_agent = b"Mozilla/5.0 " + b"A" * (5000 - len(b"Mozilla/5.0 "))
    cap.connection(50004, 80, http_request(long_agent), reply)
    cap.write(out)


if __name__ == "__main__":
    main()
