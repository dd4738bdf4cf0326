#!/usr/bin/env python3
"""A small, fast local upstream for the proxy benchmarks (127.0.0.1 only).

  GET  /small   13-byte text answer
  POST /echo    reads the body, answers 64 KiB of JSON-ish text
  GET  /sse     text/event-stream: one event at once, then EVENTS more every INTERVAL ms

HTTP/1.1 keep-alive on asyncio Protocols with precomputed responses, so it is not the
bottleneck: the benchmark measures it directly (the "direct" column) to show that.
--tls CERT KEY serves HTTPS for the inspection/passthrough comparison. Prints one JSON
line {"port": N} on stdout once listening; runs until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys

RESPONSE_BYTES = 64 * 1024
SSE_EVENTS = 20
SSE_INTERVAL = 0.01

_BIG = (b'{"choices":[{"message":{"content":"' + b"benchmark answer text " * (RESPONSE_BYTES // 22))[
    : RESPONSE_BYTES - 4] + b'"}}]}'[:4]


def _response(body: bytes, content_type: bytes = b"text/plain") -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type + b"\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


SMALL = _response(b"hello, bench\n")
BIG = _response(_BIG, b"application/json")
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class Connection(asyncio.Protocol):
    """Parses just enough HTTP/1.1: request line, headers, Content-Length body."""

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = bytearray()
        self.need_body = -1  # bytes of body still expected for the current request
        self.path = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.need_body < 0:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(self.buffer[:end])
                del self.buffer[: end + 4]
                line, _, headers = head.partition(b"\r\n")
                parts = line.split(b" ")
                self.path = parts[1] if len(parts) > 1 else b"/"
                self.need_body = 0
                for header in headers.split(b"\r\n"):
                    name, _, value = header.partition(b":")
                    if name.strip().lower() == b"content-length":
                        self.need_body = int(value.strip() or 0)
            if len(self.buffer) < self.need_body:
                return
            del self.buffer[: self.need_body]
            self.need_body = -1
            self.respond(self.path)

    def respond(self, path: bytes) -> None:
        path = path.split(b"?", 1)[0]
        if path.startswith(b"http"):  # absolute-form request (a client talking proxy to us)
            path = b"/" + path.split(b"/", 3)[-1]
        if path == b"/small":
            self.transport.write(SMALL)
        elif path == b"/echo":
            self.transport.write(BIG)
        elif path == b"/sse":
            asyncio.ensure_future(self.stream())
        else:
            self.transport.write(NOT_FOUND)

    async def stream(self) -> None:
        self.transport.write(SSE_HEAD + _chunk(b'data: {"delta": "first"}\n\n'))
        for index in range(SSE_EVENTS):
            await asyncio.sleep(SSE_INTERVAL)
            if self.transport.is_closing():
                return
            self.transport.write(_chunk(f'data: {{"delta": "token {index}"}}\n\n'.encode()))
        self.transport.write(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")


async def serve(host: str, port: int, tls: ssl.SSLContext | None) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Connection, host, port, ssl=tls, backlog=1024)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS with this certificate")
    args = parser.parse_args(argv)
    tls = None
    if args.tls:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(*args.tls)
    try:
        asyncio.run(serve("127.0.0.1", args.port, tls))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
