#!/usr/bin/env python3
"""The servers of the benchmark capture (scripts/bench-capture): HTTP on :80, HTTPS
(TLS 1.3) on :443 and DNS on :53/udp, all in one process, for real clients to talk to.

GET /small returns 1 KB, GET /bulk/N returns N MiB, POST/PUT anything is read and
acknowledged. DNS answers every A query with ANSWER_ADDRESS and every other query with an
empty NOERROR answer."""

import socket
import socketserver
import ssl
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER_ADDRESS = sys.argv[3] if len(sys.argv) > 3 else "198.51.100.1"
CHUNK = b"\0" * 65536


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/bulk/"):
            size = int(self.path.rsplit("/", 1)[1]) * 1024 * 1024
        else:
            size = 1024
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        while size > 0:
            n = min(size, len(CHUNK))
            self.wfile.write(CHUNK[:n])
            size -= n

    def do_POST(self):
        left = int(self.headers.get("Content-Length", "0"))
        while left > 0:
            got = self.rfile.read(min(left, 65536))
            if not got:
                break
            left -= len(got)
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_POST


class DnsHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        if len(data) < 12:
            return
        ident, _flags, qd = struct.unpack("!HHH", data[:6])
        # The question ends at the root label, then type and class.
        end = 12
        while end < len(data) and data[end] != 0:
            end += data[end] + 1
        question = data[12 : end + 5]
        qtype = struct.unpack("!H", data[end + 1 : end + 3])[0] if end + 3 <= len(data) else 0
        answers = b""
        count = 0
        if qtype == 1:
            answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(ANSWER_ADDRESS)
            count = 1
        header = struct.pack("!HHHHHH", ident, 0x8180, min(qd, 1), count, 0, 0)
        sock.sendto(header + question + answers, self.client_address)


class ThreadingUdp(socketserver.ThreadingMixIn, socketserver.UDPServer):
    daemon_threads = True


def main():
    cert, key = sys.argv[1], sys.argv[2]
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 1024
    plain = ThreadingHTTPServer(("0.0.0.0", 80), Handler)
    tls = ThreadingHTTPServer(("0.0.0.0", 443), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert, key)
    tls.socket = context.wrap_socket(tls.socket, server_side=True, do_handshake_on_connect=False)
    dns = ThreadingUdp(("0.0.0.0", 53), DnsHandler)
    for server in (plain, tls, dns):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
