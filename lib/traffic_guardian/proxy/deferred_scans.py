"""Messages noted by the hooks, built into Exchanges and handed to the scanner together.

mitmproxy runs its own code between any two of our hooks, and that code pushes ours out of
the CPU's caches: live, a 64 KiB POST's request and response hooks cost about 110 us of the
proxy's loop, against 30 us for the same work in a tight loop. So the body hooks only note
what they saw (a builder and its arguments, the body already taken), and one callback
DELAY_SECS later builds and hands off every message noted meanwhile, warm after the first.
In A/B runs at 32 concurrent 64 KiB POSTs it took 65-105 us of proxy CPU off each request
(throughput against bare mitmdump from about x0.88 to x0.93); the scanner process's own
1 ms write batching (scan_process.SEND_DELAY_SECS) stays, and measured better kept than not.

The delay only moves when a message is scanned, never when it is forwarded: the monitor
observes and does not hold traffic. Nothing is dropped or held without bound:
  - at most max_pending messages wait: the one that fills the list drains it at once;
  - a message whose build or hand-off fails is reported, and the rest of the batch still goes;
  - drain() at shutdown hands off whatever is still noted;
  - without an event loop (the addon's unit tests, a hook run outside mitmproxy) each
    message is built and handed off at once, as before.
"""

from __future__ import annotations

from collections.abc import Callable

from traffic_guardian.detect.exchange import Exchange

DELAY_SECS = 0.001  # a few messages per batch under load; a delay of 0 (the next loop turn) measured worse
MAX_PENDING = 256  # messages; each keeps its flow (and body) alive until drained


class DeferredScans:
    def __init__(self, hand_off: Callable[[Exchange], None], on_error: Callable[[str, BaseException], None],
                 delay: float = DELAY_SECS, max_pending: int = MAX_PENDING):
        self.hand_off = hand_off  # the runtime's scan: to the scanner process, or scanned here
        self.on_error = on_error  # (where, exception): reported redacted by the runtime
        self.delay = delay
        self.max_pending = max_pending
        self._loop = None
        self._pending: list[tuple[Callable[..., Exchange], tuple]] = []

    def start(self, loop) -> None:
        """From now on messages wait for one callback on loop, not built in the hook."""
        self._loop = loop

    def add(self, build: Callable[..., Exchange], *args) -> None:
        """Note one message: build(*args) makes its Exchange when the batch is drained."""
        if self._loop is None:
            self._build_and_hand_off(build, args)
            return
        if not self._pending:
            self._loop.call_later(self.delay, self.drain)
        self._pending.append((build, args))
        if len(self._pending) >= self.max_pending:
            self.drain()  # the timer already set drains what is noted by then: at worst early

    def drain(self) -> None:
        """Build and hand off everything noted, in the order it was noted. Never raises."""
        pending, self._pending = self._pending, []
        for build, args in pending:
            self._build_and_hand_off(build, args)

    def _build_and_hand_off(self, build: Callable[..., Exchange], args: tuple) -> None:
        try:
            self.hand_off(build(*args))
        except Exception as exc:  # what the hook's guard caught when this ran in the hook
            self.on_error("scan", exc)
