"""The egress allowlist (detect-only): a destination outside it is one POLICY finding.

A destination outside the allowlist produces one `unexpected_egress` finding (medium) per
destination per dedup window. Nothing is ever blocked. By default the allowlist is the
set of hosts PicoClaw is configured to use (api_base hosts, channel and tool hosts, from
picoclaw/config_files.py, handed in as a callable so this module reads no file); loopback
is always allowed.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Iterable

from traffic_guardian.detect.exchange import OUTBOUND, split_host_port
from traffic_guardian.detect.finding import Finding
from traffic_guardian.detect.providers import host_matches

DERIVED = "picoclaw"  # an egress_allowlist entry meaning "the hosts of the PicoClaw config"


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class EgressPolicy:
    """unexpected_egress findings: one per destination per dedup window, nothing blocked.

    allowlist: None = the hosts derived from the PicoClaw config; a list of hosts/globs,
    where the entry "picoclaw" adds the derived hosts; [] turns the check off. With no
    derived hosts (no PicoClaw config) and allowlist None, there is nothing to compare to
    and the check is off.
    """

    def __init__(self, allowlist: list[str] | None, derived_hosts: Callable[[], Iterable[str]],
                 window_secs: int, *, max_tracked: int = 1000, clock: Callable[[], float] = time.monotonic,
                 redact: Callable[[str], str] = lambda text: text):
        self.allowlist = allowlist
        self.derived_hosts = derived_hosts
        self.window = window_secs
        self.max_tracked = max_tracked
        self.clock = clock
        self.redact = redact
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()
        # Every request asks; a gateway talks to a handful of hosts, and matching each against
        # a dozen globs cost more than the rest of the egress bookkeeping. Verdicts hold while
        # the globs they were decided against do (a PicoClaw config reload changes them).
        self._verdicts: dict[tuple[str, str | None], bool] = {}
        self._verdicts_globs: tuple[str, ...] | None = None

    def globs(self) -> tuple[str, ...]:
        entries = [DERIVED] if self.allowlist is None else self.allowlist
        globs: list[str] = []
        for entry in entries:
            globs.extend(self.derived_hosts() if entry == DERIVED else [entry])
        return tuple(globs)

    def allows(self, host: str, sni: str | None = None) -> bool:
        globs = self.globs()
        if globs != self._verdicts_globs:
            self._verdicts, self._verdicts_globs = {}, globs
        verdict = self._verdicts.get((host, sni))
        if verdict is None:
            verdict = (not globs or is_loopback(host) or host_matches(host, globs)
                       or bool(sni) and host_matches(sni, globs))
            if len(self._verdicts) >= self.max_tracked:
                self._verdicts.clear()
            self._verdicts[(host, sni)] = verdict
        return verdict

    def check(self, dest: str, protocol: str, *, source: str = "unknown", sni: str | None = None,
              flow_id: str = "") -> Finding | None:
        host = split_host_port(dest)[0]
        if self.allows(host, sni):
            return None
        now = self.clock()
        with self._lock:
            last = self._last.get(dest)
            if last is not None and self.window > 0 and now - last < self.window:
                self._suppressed[dest] = self._suppressed.get(dest, 0) + 1
                return None
            if len(self._last) >= self.max_tracked:
                self._forget(now)
            self._last[dest] = now
            suppressed = self._suppressed.pop(dest, 0)
        seen = f"{dest}" + (f" (SNI {sni})" if sni and sni != host else "")
        return Finding(
            direction=OUTBOUND, protocol=protocol, threat_type="POLICY", pattern="unexpected_egress",
            variant="host", severity="medium", source=source, dest=dest, location="connection",
            snippet=self.redact(f"{seen} is not in the egress allowlist"),
            description="A destination outside the egress allowlist (detect-only; nothing is blocked)",
            flow_id=flow_id, suppressed=suppressed,
        )

    def _forget(self, now: float) -> None:
        for dest, last in list(self._last.items()):
            if self.window <= 0 or now - last >= self.window:
                del self._last[dest]
                self._suppressed.pop(dest, None)
        while len(self._last) >= self.max_tracked:  # all still in window: drop the oldest
            oldest = min(self._last, key=self._last.get)
            del self._last[oldest]
            self._suppressed.pop(oldest, None)
