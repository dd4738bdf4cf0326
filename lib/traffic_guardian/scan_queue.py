"""Scanning off the proxy's event loop: a bounded queue and one scanning thread.

mitmproxy runs every hook of every flow on one event loop, so a hook that scans holds all
other traffic, and the message itself, for the whole scan (about 0.4 ms per 64 KiB body).
The addon hands each Exchange to this queue and returns: the message goes on at once and
one thread scans the exchanges in order. Hyperscan releases the GIL while it scans
(prefilter.py), so most of the scanning overlaps the proxy's own work.

Nothing is skipped. When the queue holds max_items exchanges or max_bytes of bodies,
submit() waits for room: a proxy that outruns its scanner slows down to the scanner's
pace instead of dropping scans or growing without bound (each wait is counted). Before
start() and after stop(), submit() scans on the calling thread. stop() returns once
everything queued is scanned.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from .exchange import Exchange

MAX_ITEMS = 256
MAX_BYTES = 8 * 1024 * 1024  # bodies waiting to be scanned (each is at most max_scan_bytes)


class ScanQueue:
    def __init__(self, scan: Callable[[Exchange], None], *, max_items: int = MAX_ITEMS,
                 max_bytes: int = MAX_BYTES, on_wait: Callable[[], None] | None = None):
        self._scan = scan  # must not raise: the runtime reports its own errors
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._on_wait = on_wait
        self._items: deque[tuple[Exchange, int]] = deque()
        self._bytes = 0
        self._busy = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.errors = 0

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="traffic-guardian-scan", daemon=True)
            self._thread.start()

    def submit(self, exchange: Exchange) -> None:
        if self._thread is None:
            self._scan(exchange)
            return
        size = len(exchange.body or b"")
        with self._cond:
            if self._items and not self._has_room(size):
                if self._on_wait is not None:
                    self._on_wait()
                while self._items and not self._has_room(size):
                    self._cond.wait()
            self._items.append((exchange, size))
            self._bytes += size
            self._cond.notify_all()

    def _has_room(self, size: int) -> bool:
        return len(self._items) < self.max_items and self._bytes + size <= self.max_bytes

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every submitted exchange is scanned; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._items and not self._busy, timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Scan what is queued, then end the thread; later submits scan inline."""
        thread = self._thread
        if thread is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._stopping:
                    self._cond.wait()
                if not self._items:
                    return
                exchange, size = self._items.popleft()
                self._busy = True
            try:
                self._scan(exchange)
            except Exception:  # the runtime reports its own errors; this only keeps the thread alive
                self.errors += 1
            finally:
                with self._cond:
                    self._bytes -= size
                    self._busy = False
                    self._cond.notify_all()
