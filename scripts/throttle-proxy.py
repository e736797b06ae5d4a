#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that limits each connection's download direction to a fixed rate,
standing in for a CDN with per-connection limits. For benchmarks only (scripts/bench-fetch).

usage: throttle-proxy.py LISTEN_PORT UPSTREAM_PORT BYTES_PER_SECOND
Prints "ready" on stdout once listening.
"""
import asyncio
import sys
import time

CHUNK = 64 * 1024


async def pipe(reader, writer, rate):
    start = time.monotonic()
    sent = 0
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
            sent += len(data)
            if rate:
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    await asyncio.sleep(ahead)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def handle(client_reader, client_writer, upstream_port, rate):
    try:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(
        pipe(client_reader, up_writer, 0),
        pipe(up_reader, client_writer, rate),
    )


async def main():
    listen, upstream, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, upstream, rate), "127.0.0.1", listen
    )
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
