"""Findings to syslog, off by default: each one an RFC 5424 message whose MSG is its JSONL line.

Operators already ship logs with syslog; this lets them take the guardian's findings the
same way. The findings log stays the source of truth: a message here is a copy of a line
already written there (the same redacted object, byte for byte), sent only after that
write succeeded. Sending never delays the proxy: the hook puts the line in a bounded queue
and returns; one thread sends. A full queue, an unreachable collector or a send error drops
the message and counts it (`dropped`), never blocks and never retries into the proxy.

Message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [origin ...] MSG` (RFC 5424) with
PRI = facility * 8 + the finding's severity mapped onto syslog's (critical 2, high 3,
medium 4, low 5, info 6), TIMESTAMP the finding's, MSGID its pattern id, the registered
`origin` structured-data element (software and its version), MSG the JSON line.
Transports: a unix datagram socket (`/dev/log`), `udp://host:port`, or `tcp://host:port`
with octet-counted framing (RFC 6587), reconnecting after a failure.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from traffic_guardian import VERSION

FACILITIES = {"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
              "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, **{f"local{n}": 16 + n for n in range(8)}}
SEVERITY_CODES = {"critical": 2, "high": 3, "medium": 4, "low": 5, "info": 6}
DEFAULT_APP_NAME = "picoclaw-traffic-guardian"
QUEUE_MAX = 1024  # findings waiting to be sent; beyond, each new one is dropped and counted
RECONNECT_SECS = 1.0
# RFC 5424 section 7.2's registered "origin" element: which software wrote the message
ORIGIN = f'[origin software="{DEFAULT_APP_NAME}" swVersion="{VERSION}"]'


@dataclass(frozen=True)
class SyslogTarget:
    transport: str  # unix | udp | tcp
    address: str | tuple[str, int]
    facility: int
    app_name: str


def parse_target(setting: dict) -> SyslogTarget:
    """The validated `syslog` config object; ValueError names what is wrong (never a value of traffic)."""
    address = setting.get("address")
    if not isinstance(address, str) or not address:
        raise ValueError("address must be a unix socket path or udp://host:port or tcp://host:port")
    facility = setting.get("facility", "local0")
    if facility not in FACILITIES:
        raise ValueError(f"facility {facility!r} is not one of {', '.join(FACILITIES)}")
    app_name = setting.get("app_name", DEFAULT_APP_NAME)
    if not isinstance(app_name, str) or not 0 < len(app_name) <= 48 or not app_name.isascii() \
            or any(c.isspace() or not c.isprintable() for c in app_name):
        raise ValueError("app_name must be 1-48 printable ASCII characters without spaces")
    unknown = set(setting) - {"address", "facility", "app_name"}
    if unknown:
        raise ValueError(f"unknown key {sorted(unknown)[0]!r} (address, facility, app_name)")
    if address.startswith("/"):
        return SyslogTarget("unix", address, FACILITIES[facility], app_name)
    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("udp", "tcp") or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ValueError(f"{address!r} is not a unix socket path, udp://host:port or tcp://host:port")
    return SyslogTarget(parts.scheme, (parts.hostname, port), FACILITIES[facility], app_name)


def rfc5424(line: str, severity: str, pattern: str, timestamp: str, target: SyslogTarget,
            hostname: str | None = None, procid: int | None = None) -> bytes:
    pri = target.facility * 8 + SEVERITY_CODES.get(severity, 6)
    host = (hostname or socket.gethostname() or "-")[:255].replace(" ", "-")
    msgid = "".join(c for c in pattern if c.isascii() and c.isprintable() and not c.isspace())[:32] or "-"
    return (f"<{pri}>1 {timestamp} {host} {target.app_name} {procid or os.getpid()} {msgid} {ORIGIN} "
            f"{line}").encode()


class SyslogSink:
    """A bounded queue and one sending thread; submit() never blocks."""

    def __init__(self, target: SyslogTarget):
        self.target = target
        self.sent = 0
        self.dropped = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(QUEUE_MAX)
        self._socket: socket.socket | None = None
        self._down_until = 0.0
        self._thread = threading.Thread(target=self._run, name="traffic-guardian-syslog", daemon=True)
        self._thread.start()

    def submit(self, line: str, severity: str, pattern: str, timestamp: str) -> None:
        try:
            self._queue.put_nowait(rfc5424(line, severity, pattern, timestamp, self.target))
        except queue.Full:
            self.dropped += 1

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (at most timeout seconds), then stop."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        self._disconnect()

    def _run(self) -> None:
        while True:
            message = self._queue.get()
            if message is None:
                return
            if time.monotonic() < self._down_until:
                self.dropped += 1  # the collector failed a moment ago: do not hammer it
                continue
            try:
                self._send(message)
                self.sent += 1
            except OSError:
                self.dropped += 1
                self._disconnect()
                self._down_until = time.monotonic() + RECONNECT_SECS

    def _connect(self) -> socket.socket:
        transport, address = self.target.transport, self.target.address
        if transport == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        else:
            family = socket.getaddrinfo(address[0], address[1])[0][0]
            sock = socket.socket(family, socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM)
        sock.settimeout(2.0)
        try:
            sock.connect(address)
        except OSError:
            sock.close()
            raise
        return sock

    def _send(self, message: bytes) -> None:
        if self._socket is None:
            self._socket = self._connect()
        if self.target.transport == "tcp":
            self._socket.sendall(str(len(message)).encode() + b" " + message)
        else:
            self._socket.send(message)

    def _disconnect(self) -> None:
        if self._socket is not None:
            try:
                self._socket.close()
            finally:
                self._socket = None
