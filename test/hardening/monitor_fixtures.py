"""Hardening fixtures: a live monitor (real mitmdump via scripts/start.py --background) in a
temporary home, a tolerant local upstream on 127.0.0.1, raw-socket and proxied clients, and
the monitor's RSS. Test modules import live_monitor_fixture / upstream_fixture (a second
conftest.py would take the module name `conftest` from test/conftest.py).

Every monitor started here is stopped by the fixture, and the canary sweep (test/canary.py)
runs at teardown over the whole home and every output the test captured, for every secret
the test planted (monitor.planted), so no hardening e2e test can forget it.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import http.server
import json
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from canary import assert_no_leak
from conftest import run_script
from local_servers import UPSTREAMS_ARE_PUBLIC, free_port, serving
from polling import poll
from processes import children_of, rss_kib

LOOPBACK = "127.0.0.1"
QUIET_AFTER_ANSWER_SECS = 0.2


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, IndexError):
        return False


# -- the upstream ---------------------------------------------------------------------------


class Upstream(http.server.ThreadingHTTPServer):
    """Answers anything: GET /ok -> 'ok', POST -> reads the body (length or chunked) and says
    how many bytes, /payload/<name> -> a registered (body, headers) pair; counts requests."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self):
        super().__init__((LOOPBACK, 0), UpstreamHandler)
        self.payloads: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.requests = 0
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}"

    def handle_error(self, request, client_address):
        pass  # hostile input reaching the upstream is the point of these tests; stay quiet


class UpstreamHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Upstream

    def log_message(self, *_args):
        pass

    def _count(self):
        with self.server.lock:
            self.server.requests += 1

    def do_GET(self):  # noqa: N802 - http.server's hook name
        self._count()
        name = self.path.rpartition("/payload/")[2] if "/payload/" in self.path else None
        if name is not None and name in self.server.payloads:
            body, headers = self.server.payloads[name]
            self._reply(body, headers)
        else:
            self._reply(b"ok")

    def do_POST(self):  # noqa: N802
        self._count()
        size = self._drain_body()
        self._reply(f"received {size}".encode())

    do_PUT = do_POST  # noqa: N815

    def _drain_body(self) -> int:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            size = 0
            while True:
                line = self.rfile.readline(1024)
                length = int(line.split(b";")[0].strip() or b"0", 16)
                if length == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return size
                remaining = length
                while remaining:
                    piece = self.rfile.read(min(remaining, 1 << 16))
                    if not piece:
                        return size
                    remaining -= len(piece)
                    size += len(piece)
                self.rfile.readline(16)
        remaining = int(self.headers.get("Content-Length", "0") or 0)
        size = 0
        while remaining:
            piece = self.rfile.read(min(remaining, 1 << 16))
            if not piece:
                break
            remaining -= len(piece)
            size += len(piece)
        return size

    def _reply(self, body: bytes, headers: dict[str, str] | None = None):
        self.send_response(200)
        headers = {"Content-Type": "text/plain", **(headers or {})}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(name="upstream")
def upstream_fixture():
    server = Upstream()
    with serving(server):
        yield server


# -- the monitor ----------------------------------------------------------------------------


@dataclass
class LiveMonitor:
    home: Path
    env: dict
    port: int
    pid: int
    username: str
    password: str
    outputs: list = field(default_factory=list)  # every captured stdout/stderr, for the canary sweep
    planted: list = field(default_factory=list)  # every secret the test sent, for the canary sweep

    @property
    def proxy_pid(self) -> int:
        """The proxy process (mitmdump), child of the supervisor whose pid is in monitor.pid."""
        return json.loads((self.home / "run" / "supervisor.json").read_text())["proxy_pid"]

    @property
    def proxy_authorization(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def rss_kib(self, field: str = "VmRSS") -> int:
        """The monitor's resident memory: supervisor, proxy and its scanner process (which decodes and scans bodies)."""
        proxy = self.proxy_pid
        return sum(rss_kib(pid, field) for pid in (self.pid, proxy, *children_of(proxy)))

    def alive(self) -> bool:
        return alive(self.pid)

    def script(self, name: str, *args: str, timeout: float = 60):
        result = run_script(name, *args, env=self.env, timeout=timeout)
        self.outputs += [result.stdout, result.stderr]
        return result

    def crash_lines(self) -> list[str]:
        """Lines of the monitor's own log where mitmproxy reports a connection handler crash
        (an exception escaping a hook or a layer: that client got no answer)."""
        path = self.home / "logs" / "monitor.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return [line for line in text.splitlines() if "has crashed" in line]

    def status(self) -> dict:
        result = self.script("status.py", "--json", "--last", "0")
        return json.loads(result.stdout)

    def counters(self) -> dict:
        try:
            return json.loads((self.home / "run" / "counters.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def wait_counters(self, predicate, timeout: float = 15) -> dict:
        """The counters file once predicate(counters) holds (it is rewritten about once a second)."""
        return poll(self.counters, predicate, timeout)

    def findings(self, log_dir: Path | None = None) -> list[dict]:
        """Every finding in the retained log (via query.py, so a bad line is skipped, not fatal)."""
        args = ["--log-dir", str(log_dir)] if log_dir else []
        result = self.script("query.py", *args)
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    def wait_findings(self, predicate, count: int = 1, timeout: float = 15) -> list[dict]:
        """The findings matching predicate once there are count of them (the scanner process
        answers just after the exchange), or whatever matched at the timeout."""
        return poll(lambda: [f for f in self.findings() if predicate(f)], lambda found: len(found) >= count,
                    timeout, interval=0.2)

    def request(self, method: str, url: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 30) -> tuple[int, bytes]:
        """One request through the proxy (absolute-form URL) with the proxy credentials."""
        connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=timeout)
        try:
            connection.request(method, url, body=body,
                               headers={"Proxy-Authorization": self.proxy_authorization, **(headers or {})})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def assert_serves(self, upstream: Upstream, why: str = "") -> None:
        """A normal client still gets its answer: the monitor is up and forwarding."""
        assert self.alive(), f"monitor died {why}"
        status, body = self.request("GET", upstream.base + "/ok", timeout=20)
        assert (status, body) == (200, b"ok"), f"normal request failed {why}: {status} {body[:200]!r}"

    def raw(self, data: bytes, read_timeout: float = 3.0, close_after_send: bool = False) -> bytes:
        """Send raw bytes to the listener; return whatever comes back until close or timeout."""
        return raw_exchange(self.port, data, read_timeout, close_after_send)


def raw_exchange(port: int, data: bytes, read_timeout: float = 3.0, close_after_send: bool = False) -> bytes:
    with socket.create_connection((LOOPBACK, port), timeout=10) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(data)
        if close_after_send:
            return b""
        sock.settimeout(read_timeout)
        received = bytearray()
        with contextlib.suppress(OSError):
            while len(received) < 1 << 20:
                piece = sock.recv(65536)
                if not piece:
                    break
                received += piece
                sock.settimeout(QUIET_AFTER_ANSWER_SECS)  # an answer came; the connection may stay open
        return bytes(received)


def start_monitor(guardian_env: dict, home: Path, config: dict | None = None, wait: float = 60) -> LiveMonitor:
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    port = free_port()
    settings = {"listen_port": port, **UPSTREAMS_ARE_PUBLIC, **(config or {})}
    (home / "config.json").write_text(json.dumps(settings))
    started = run_script("start.py", "--background", "--wait", str(wait), env=guardian_env, timeout=wait + 30)
    assert started.returncode == 0, started.stderr.decode(errors="replace")[-3000:]
    state = json.loads(started.stdout)
    credentials = json.loads((home / "run" / "proxy-credentials.json").read_text())
    return LiveMonitor(home=home, env=guardian_env, port=port, pid=state["pid"],
                       username=credentials["username"], password=credentials["password"],
                       outputs=[started.stdout, started.stderr])


def stop_monitor(monitor: LiveMonitor) -> None:
    """stop.py; if the run files are gone (a test removed them) kill the pid we started."""
    with contextlib.suppress(Exception):
        monitor.script("stop.py", "--timeout", "10")
    if monitor.alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(monitor.pid, signal.SIGKILL)  # the monitor this fixture started, by its pid
        deadline = time.monotonic() + 10
        while monitor.alive() and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture(name="live_monitor")
def live_monitor_fixture(guardian_env, guardian_home):
    """Factory: live_monitor(config) -> LiveMonitor; stopped and canary-swept at teardown."""
    started: list[LiveMonitor] = []

    def start(config: dict | None = None) -> LiveMonitor:
        monitor = start_monitor(guardian_env, guardian_home, config)
        started.append(monitor)
        return monitor

    yield start
    for monitor in started:
        stop_monitor(monitor)
    for monitor in started:
        assert_no_leak(monitor.planted, home=monitor.home if monitor.home.exists() else None,
                       outputs=monitor.outputs)
