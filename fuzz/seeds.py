#!/usr/bin/env python3
"""Writes a seed corpus for every fuzz target from the captures in tests/data/captures.

Usage: fuzz/seeds.py OUTDIR   (then OUTDIR/<target>/ holds that target's seeds)

Seeds are real traffic: the capture files themselves (their first 64 KiB) for `records`,
whole frames for `decode`, sequences of frames for
`packet_path`, TCP payloads for `tls`, `http` and (as segment sequences) `stream`, UDP
payloads for `dns` and `quic`. Standard library only; reads classic pcap and pcapng.
"""
import hashlib, os, struct, sys
from pathlib import Path

# The link types the decode target selects from, in its order (fuzz_targets/decode.rs).
DECODE_LINKS = [0, 1, 9, 10, 101, 104, 105, 108, 113, 127, 228, 229, 239, 276]


def packets(path):
    """(link type, frame) for each packet of a pcap or pcapng file."""
    raw = path.read_bytes()
    if raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = "<" if raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        link = struct.unpack_from(e + "I", raw, 20)[0] & 0xFFFF
        off = 24
        while off + 16 <= len(raw):
            incl = struct.unpack_from(e + "I", raw, off + 8)[0]
            yield link, raw[off + 16: off + 16 + incl]
            off += 16 + incl
    elif raw[:4] == b"\x0a\x0d\x0d\x0a":
        e, off, links = "<", 0, []
        while off + 12 <= len(raw):
            btype = struct.unpack_from(e + "I", raw, off)[0]
            if btype == 0x0A0D0D0A:
                e = "<" if raw[off + 8: off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
                links = []
            blen = struct.unpack_from(e + "I", raw, off + 4)[0]
            if blen < 12:
                break
            if btype == 1:
                links.append(struct.unpack_from(e + "H", raw, off + 8)[0])
            elif btype == 6 and links:
                iface, = struct.unpack_from(e + "I", raw, off + 8)
                incl, = struct.unpack_from(e + "I", raw, off + 20)
                if iface < len(links):
                    yield links[iface], raw[off + 28: off + 28 + incl]
            off += blen


def l4(link, frame):
    """(proto, sport, dport, payload) of an untunnelled Ethernet or raw IP frame."""
    if link == 1:
        eth = 12
        while frame[eth: eth + 2] in (b"\x81\x00", b"\x88\xa8"):
            eth += 4
        ethertype, ip = frame[eth: eth + 2], frame[eth + 2:]
        if ethertype not in (b"\x08\x00", b"\x86\xdd"):
            return None
    elif link in (101, 228, 229):
        ip = frame
    else:
        return None
    if len(ip) < 20:
        return None
    if ip[0] >> 4 == 4:
        proto, hl = ip[9], (ip[0] & 15) * 4
        total = struct.unpack_from(">H", ip, 2)[0]
        body = ip[hl: total]
    elif ip[0] >> 4 == 6 and len(ip) >= 40:
        proto, body = ip[6], ip[40: 40 + struct.unpack_from(">H", ip, 4)[0]]
    else:
        return None
    if proto == 6 and len(body) >= 20:
        sport, dport, seq = struct.unpack_from(">HHI", body)
        return "tcp", sport, dport, seq, body[(body[12] >> 4) * 4:]
    if proto == 17 and len(body) >= 8:
        sport, dport = struct.unpack_from(">HH", body)
        return "udp", sport, dport, 0, body[8:]
    return None


def main():
    out = Path(sys.argv[1])
    root = Path(__file__).resolve().parent.parent / "tests/data/captures"
    seeds = {t: set() for t in ["records", "decode", "packet_path", "tls", "http", "dns", "quic", "stream"]}
    for cap in sorted(root.iterdir()):
        if cap.suffix not in (".pcap", ".pcapng"):
            continue
        seeds["records"].add(cap.read_bytes()[:65536])
        frames = list(packets(cap))
        sequence, streams = bytearray(), {}
        for link, frame in frames:
            if link in DECODE_LINKS:
                seeds["decode"].add(bytes([DECODE_LINKS.index(link)]) + frame)
            if link in (1, 101) and len(sequence) < 60000:
                kind = 0x80 if link == 1 else 0xC0
                sequence += bytes([kind]) + struct.pack(">H", len(frame) % 2048) + frame[:2047]
            parsed = l4(link, frame)
            if not parsed:
                continue
            proto, sport, dport, seq, payload = parsed
            if not payload:
                continue
            if proto == "tcp":
                seeds["tls" if payload[:1] in (b"\x16", b"\x80") else "http"].add(payload[:8192])
                key = (sport, dport)
                streams.setdefault(key, bytearray([1 if 53 in key else 0]))
                if len(streams[key]) < 20000:
                    streams[key] += struct.pack(">H", len(payload) % 4096) + b"\x00" + payload[:4095]
            elif 53 in (sport, dport):
                seeds["dns"].add(payload)
            elif 443 in (sport, dport):
                seeds["quic"].add(payload)
        if sequence:
            seeds["packet_path"].add(bytes(sequence))
        for s in streams.values():
            seeds["stream"].add(bytes(s))
    for target, items in seeds.items():
        d = out / target
        d.mkdir(parents=True, exist_ok=True)
        for item in items:
            (d / hashlib.sha1(item).hexdigest()).write_bytes(item)
        print(f"{target}: {len(items)} seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
