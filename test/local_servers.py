"""Local test servers on 127.0.0.1: a free port, and a server running in a thread for one test."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# The local upstreams stand in for public hosts (providers, web pages): a monitor serving
# them must not report each request to 127.0.0.1 as a private destination. Tests of
# private_destination itself (test_do_no_harm_live.py) leave this out.
UPSTREAMS_ARE_PUBLIC = {"private_destination_allowlist": ["127.0.0.1"]}


def free_port() -> int:
    """A loopback port nobody listens on right now (for a monitor's listen_port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(server) -> Iterator:
    """Run a socketserver-style server in a daemon thread; always shut it down afterwards."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class AnswerOk(http.server.BaseHTTPRequestHandler):
    """A quiet upstream for POSTs: reads the body, answers 200 "ok" (URLs and bodies carry planted secrets)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *_args):
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
