#!/usr/bin/env python3
"""QUIC for the benchmark capture (scripts/bench-capture), with aioquic (PyPI).

  quic.py server CERT KEY              a QUIC server on :443/udp that completes handshakes
  quic.py client ADDRESS COUNT NAME... COUNT QUIC v1 handshakes to ADDRESS:443, 16 at a
                                       time, the SNI cycling through NAME...

Each client connection sends its Initial (the ClientHello aigress reads), completes the
handshake with ALPN h3, exchanges a PING and closes: the QUIC part of a browser's or an
SDK's HTTP/3 traffic that the sensor inspects."""

import asyncio
import ssl
import sys

from aioquic.asyncio import connect, serve
from aioquic.quic.configuration import QuicConfiguration


async def server(cert, key):
    configuration = QuicConfiguration(is_client=False, alpn_protocols=["h3"])
    configuration.load_cert_chain(cert, key)
    await serve("0.0.0.0", 443, configuration=configuration)
    print("ready", flush=True)
    await asyncio.Future()


async def client(address, count, names):
    limit = asyncio.Semaphore(16)
    failures = 0

    async def one(i):
        nonlocal failures
        configuration = QuicConfiguration(
            is_client=True,
            alpn_protocols=["h3"],
            verify_mode=ssl.CERT_NONE,
            server_name=names[i % len(names)],
        )
        async with limit:
            try:
                async with connect(address, 443, configuration=configuration) as connection:
                    await asyncio.wait_for(connection.ping(), 5)
            except Exception:
                failures += 1

    await asyncio.gather(*(one(i) for i in range(count)))
    print(f"quic: {count - failures} of {count} handshakes completed", file=sys.stderr)


def main():
    if sys.argv[1] == "server":
        asyncio.run(server(sys.argv[2], sys.argv[3]))
    else:
        asyncio.run(client(sys.argv[2], int(sys.argv[3]), sys.argv[4:]))


if __name__ == "__main__":
    main()
