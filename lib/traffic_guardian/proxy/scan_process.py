"""Scanning in a child process: the engine on a second core, off the proxy's event loop.

mitmproxy runs every hook of every flow on one event loop in one interpreter. Scanning in
a hook holds all traffic for the scan (about 0.4 ms per 64 KiB body); scanning on a thread
still shares the interpreter lock, and under load the proxy and the scanner only take
turns. So the monitor starts one child process that runs the engine, and its hooks only
send each Exchange down a pipe and return. The child's answers (findings, already
redacted by its engine) are read on the event loop when they arrive, and the monitor
writes them itself: one writer, one dedup window, one set of counters. No thread.

Nothing is skipped and nothing grows without bound:
  - at most max_in_flight exchanges (and max_bytes of bodies) are with the child; a submit
    beyond that first waits for answers, so a proxy that outruns its scanner slows down to
    the scanner's pace (each wait is counted);
  - the exchanges in flight are kept until answered: if the child dies they are scanned
    in the monitor (scan_inline) and the child is restarted;
  - a child that does not answer within timeout seconds is killed; the exchange it was on
    is reported as not scanned (the only way one can be) and the rest are rescanned.

The child is scanner_child.py, run as a script; the frames between the two processes
are scan_frames.py's.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import select
import subprocess
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from itertools import islice
from pathlib import Path

from traffic_guardian.detect.exchange import Exchange
from traffic_guardian.proxy.body_ring import BodyRing
from traffic_guardian.proxy.scan_frames import ANSWER_LENGTH, encode

CHILD_SCRIPT = Path(__file__).resolve().with_name("scanner_child.py")
MAX_IN_FLIGHT = 512  # small exchanges: 64 was reached at 32 concurrent GETs by latency alone
MAX_BYTES = 8 * 1024 * 1024
# How long a submitted frame may wait to be written with the next ones. Writing wakes the
# child, which costs the proxy's loop up to ~0.1 ms on a virtual machine; a message on its
# way (an SSE stream's first byte) should not wait behind that.
SEND_DELAY_SECS = 0.001
TIMEOUT_SECS = 30.0  # far above any scan: the worst adversarial 64 KiB input takes ~10 ms
_MAX_BUFFERS = 512  # per writev, well under any IOV_MAX
_F_SETPIPE_SZ = 1031  # Linux: a 1 MiB pipe holds a dozen bodies, so a write rarely waits


class ScanProcess:
    """The monitor's side of the child: submit() exchanges, answers arrive via on_answer."""

    def __init__(self, home: Path, config_path: str | None, *,
                 on_answer: Callable[[Exchange, list, str | None], None],
                 scan_inline: Callable[[Exchange], None], on_problem: Callable[[str], None],
                 on_wait: Callable[[], None] | None = None, max_in_flight: int = MAX_IN_FLIGHT,
                 max_bytes: int = MAX_BYTES, timeout: float = TIMEOUT_SECS):
        self.home = Path(home)
        self.config_path = config_path
        self.on_answer = on_answer  # (exchange, findings, redacted error or None)
        self.scan_inline = scan_inline  # for exchanges a dead child left unanswered
        self.on_problem = on_problem  # a one-line description (traffic-free; redacted again by the caller)
        self.on_wait = on_wait
        self.max_in_flight = max_in_flight
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._child: subprocess.Popen | None = None
        self._loop = None
        self._in_flight: deque[tuple[Exchange, int, float, bool]] = deque()  # (.., size, sent at, body in ring)
        self._ring: BodyRing | None = None  # made at the first start, kept across restarts
        self._bytes = 0
        self._buffer = bytearray()
        # Frames not yet in the pipe. Those submitted within SEND_DELAY_SECS are written
        # together: one write (one wake-up of the child), not one each, and not in the turn
        # of the event loop that is about to forward the message.
        # What a full pipe does not take waits for the loop to report it writable: the loop
        # never blocks on the pipe, only on the in-flight bound.
        self._unsent: deque[memoryview] = deque()
        self._send_scheduled = False
        self._writer_fd: int | None = None  # watched for writability while frames wait
        self.waits = 0  # submits that waited for answers (the scanner was behind)
        self.restarts = 0
        # Expected credential uses the children counted: finished children, plus the current one's.
        self._uses_before: Counter[str] = Counter()
        self._uses_now: dict[str, int] = {}
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, loop=None) -> None:
        """Start the child; with an event loop, answers are read there as they arrive."""
        argv = [sys.executable, str(CHILD_SCRIPT), "--home", str(self.home)]
        if self.config_path:
            argv += ["--config", self.config_path]
        if self._ring is None:
            self._ring = BodyRing.create()
        if self._ring is not None:
            argv += ["--ring-fd", str(self._ring.fd)]
        child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 close_fds=True, pass_fds=(self._ring.fd,) if self._ring is not None else ())
        for pipe in (child.stdin, child.stdout):
            try:
                fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, 1 << 20)
            except OSError:
                pass  # not Linux, or above pipe-max-size: the default 64 KiB works, with more waits
        os.set_blocking(child.stdin.fileno(), False)
        os.set_blocking(child.stdout.fileno(), False)
        self._child, self._buffer, self._unsent, self._writer_fd = child, bytearray(), deque(), None
        self._loop = loop
        if loop is not None:
            loop.add_reader(child.stdout.fileno(), self._on_readable)

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def close(self, timeout: float = 30.0) -> None:
        """Collect every answer still due, then end the child."""
        self._closing = True
        self._flush()
        deadline = time.monotonic() + timeout
        while self._in_flight and self._child is not None and time.monotonic() < deadline:
            self._wait_readable(deadline)
        self._stop_child()
        if self._in_flight:  # the child hung at the very end
            self.on_problem(f"scanner process left {len(self._in_flight)} exchanges unanswered at shutdown: "
                            "scanned in the monitor")
        while self._in_flight:
            self.scan_inline(self._in_flight.popleft()[0])
        if self._ring is not None:
            self._ring.close()
            self._ring = None

    @property
    def expected_uses(self) -> Counter[str]:
        return self._uses_before + Counter(self._uses_now)

    def _stop_child(self, kill: bool = False) -> None:
        self._watch_writable(False)
        child, self._child = self._child, None
        self._uses_before += Counter(self._uses_now)
        self._uses_now = {}
        if child is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(child.stdout.fileno())
        for pipe in (child.stdin, child.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        if kill:
            child.kill()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    # -- scanning --------------------------------------------------------------------------

    def submit(self, exchange: Exchange) -> None:
        if self._child is None or self._closing:
            self.scan_inline(exchange)
            return
        size = len(exchange.body or b"")
        if self._in_flight and (len(self._in_flight) >= self.max_in_flight or self._bytes + size > self.max_bytes):
            self.waits += 1
            if self.on_wait is not None:
                self.on_wait()
            self._flush()  # the child can only answer what it was sent
            deadline = time.monotonic() + self.timeout
            while self._child is not None and self._in_flight and (
                    len(self._in_flight) >= self.max_in_flight or self._bytes + size > self.max_bytes):
                self._wait_readable(deadline)
            if self._child is None:  # it failed while we waited; its exchanges were handled
                self.scan_inline(exchange)
                return
        body = exchange.body
        offset = self._ring.put(body) if self._ring is not None and isinstance(body, bytes) else None
        self._in_flight.append((exchange, size, time.monotonic(), offset is not None))
        self._bytes += size
        self._unsent.extend(memoryview(buffer) for buffer in encode(exchange, offset) if buffer)
        if self._loop is None:
            self._flush()
        elif not self._send_scheduled and self._writer_fd is None:
            self._send_scheduled = True
            self._loop.call_later(SEND_DELAY_SECS, self._on_writable)

    def _on_writable(self) -> None:
        """The event loop's callback (frames waited SEND_DELAY_SECS, or the pipe has room again): like
        _on_readable, nothing may escape into mitmproxy's loop."""
        self._send_scheduled = False
        try:
            self._push()
        except Exception as exc:
            self._failed(f"writing to the scanner failed ({type(exc).__name__})")

    def _push(self) -> None:
        """Write what the pipe takes now; with an event loop, the rest waits for it to say
        the pipe is writable."""
        child = self._child
        if child is None:
            return
        while self._unsent:
            try:
                _drop_written(self._unsent, os.writev(child.stdin.fileno(), list(islice(self._unsent, _MAX_BUFFERS))))
            except BlockingIOError:
                break
            except OSError:
                self._failed("scanner process closed its input")
                return
        self._watch_writable(bool(self._unsent))

    def _watch_writable(self, wanted: bool) -> None:
        if wanted and self._writer_fd is None and self._child is not None and self._loop is not None:
            self._writer_fd = self._child.stdin.fileno()
            self._loop.add_writer(self._writer_fd, self._on_writable)
        elif not wanted and self._writer_fd is not None:
            self._loop.remove_writer(self._writer_fd)
            self._writer_fd = None

    def check(self) -> None:
        """Called about once a second: a child that sits on an exchange too long is replaced."""
        if self._in_flight and time.monotonic() - self._in_flight[0][2] > self.timeout:
            self._failed(f"scanner process gave no answer in {self.timeout:g} s", hung=True)

    def _flush(self) -> None:
        """Write every unsent frame now, reading answers meanwhile (so neither side can block
        the other on a full pipe): without an event loop, before waiting for answers, at close."""
        child = self._child
        deadline = time.monotonic() + self.timeout
        while child is not None and self._child is child:  # reading may find it dead and replace it
            self._push()
            if not self._unsent or self._child is not child:
                return
            left = max(0.0, deadline - time.monotonic())
            readable, writable, _ = select.select([child.stdout], [child.stdin], [], left)
            if not readable and not writable:
                self._failed("scanner process stopped reading", hung=True)
                return
            if readable:
                self._read_available()

    def _wait_readable(self, deadline: float) -> None:
        child = self._child
        if child is None:
            return
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([child.stdout], [], [], left)[0]:
            self._failed(f"scanner process gave no answer in {self.timeout:g} s", hung=True)
            return
        self._read_available()

    def _on_readable(self) -> None:
        """The event loop's reader callback: nothing may escape into mitmproxy's loop (its
        message could carry traffic), so a failure here replaces the child."""
        try:
            self._read_available()
        except Exception as exc:
            self._failed(f"reading the scanner's answers failed ({type(exc).__name__})")

    def _read_available(self) -> None:
        child = self._child
        if child is None:
            return
        try:
            data = os.read(child.stdout.fileno(), 1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._failed(f"scanner process exited (code {child.poll()})")
            return
        self._buffer += data
        while len(self._buffer) >= ANSWER_LENGTH.size:
            (length,) = ANSWER_LENGTH.unpack_from(self._buffer)
            if len(self._buffer) < ANSWER_LENGTH.size + length:
                break
            payload = bytes(self._buffer[ANSWER_LENGTH.size : ANSWER_LENGTH.size + length])
            del self._buffer[: ANSWER_LENGTH.size + length]
            if not self._in_flight:
                self._failed("scanner process answered an exchange it was not given")
                return
            exchange, size, _sent, in_ring = self._in_flight.popleft()
            self._bytes -= size
            if in_ring:
                self._ring.release()
            findings, uses, error = pickle.loads(payload)  # noqa: S301 - our own child, over an anonymous pipe
            self._uses_now = uses
            self.on_answer(exchange, findings, error)

    def _failed(self, why: str, hung: bool = False) -> None:
        """Replace the child; scan what it left unanswered in the monitor (a hung child's
        current exchange excepted: scanning it again could hang the monitor too)."""
        self._stop_child(kill=True)
        pending, self._in_flight, self._bytes = list(self._in_flight), deque(), 0
        self._unsent = deque()  # frames of exchanges in pending: scanned below
        if self._ring is not None:
            self._ring.clear()  # the child that would have read it is gone
        if hung and pending:
            pending.pop(0)
            why += "; the exchange it was on was not scanned"
        self.on_problem(f"{why}; restarted, {len(pending)} unanswered exchanges scanned in the monitor")
        for exchange, _size, _sent, _in_ring in pending:
            self.scan_inline(exchange)
        if self._closing:
            return
        self.restarts += 1
        try:
            self.start(self._loop)
        except OSError as exc:
            self.on_problem(f"cannot restart the scanner process ({type(exc).__name__}): scanning in the monitor")


def _drop_written(pending: deque[memoryview], written: int) -> None:
    while written and pending:
        if written >= len(pending[0]):
            written -= len(pending.popleft())
        else:
            pending[0] = pending[0][written:]
            written = 0


