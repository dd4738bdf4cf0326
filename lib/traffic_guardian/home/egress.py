"""Egress: which destinations the gateway talks to, and the detect-only allowlist.

The inventory answers "where does my agent send data?" per destination (host:port, plus
the SNI names seen on passthrough TLS tunnels): first and last seen, requests, bytes out
and in. It is bounded (egress_inventory_max; the least recently seen destination is
evicted first) and persisted atomically to <home>/run/egress.json: the first change at
once, then at most every SAVE_INTERVAL_SECS, and when the monitor stops; a restart
carries on from the file.

The allowlist is detect-only: a destination outside it produces one POLICY finding
(`unexpected_egress`, medium) per destination per dedup window. Nothing is ever blocked.
By default it is the set of hosts PicoClaw is configured to use (api_base hosts, channel
and tool hosts, from picoclaw/config_files.py); loopback is always allowed.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

from traffic_guardian.detect.exchange import OUTBOUND, split_host_port
from traffic_guardian.detect.finding import Finding, utc_timestamp
from traffic_guardian.detect.providers import host_matches
from traffic_guardian.home.guardian_home import GuardianHome

INVENTORY_SCHEMA = "clawsec-traffic-egress/v1"
INVENTORY_FILE = "egress.json"  # under <home>/run/
SAVE_INTERVAL_SECS = 5.0
MAX_SNI_PER_DESTINATION = 5
MAX_PROTOCOLS_PER_DESTINATION = 5
DERIVED = "picoclaw"  # an egress_allowlist entry meaning "the hosts of the PicoClaw config"
SORT_KEYS = ("last_seen", "first_seen", "requests", "bytes_out", "bytes_in", "dest")


def inventory_path(home: GuardianHome) -> Path:
    return home.run_dir / INVENTORY_FILE


class EgressInventory:
    """Per-destination counters, least recently seen evicted beyond max_entries."""

    def __init__(self, home: GuardianHome, max_entries: int = 1000, *, save_interval: float = SAVE_INTERVAL_SECS,
                 clock: Callable[[], float] = time.monotonic):
        self.home = home
        self.path = inventory_path(home)
        self.max_entries = max_entries
        self.save_interval = save_interval
        self.clock = clock
        self.evicted = 0
        self._entries: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()
        self._dirty = False
        self._saved_at: float | None = None  # the first change is written at the next flush
        for entry in read_inventory(self.path):  # carry on where the last run stopped
            self._entries[entry["dest"]] = entry
        self._evict()

    def record(self, dest: str, protocol: str, *, sni: str | None = None, requests: int = 1,
               bytes_out: int = 0, bytes_in: int = 0) -> None:
        """One request (or tunnel) to dest, with the bytes known so far."""
        now = utc_timestamp()
        with self._lock:
            entry = self._entries.pop(dest, None)
            if entry is None:
                entry = {"dest": dest, "sni": [], "protocols": [], "first_seen": now, "last_seen": now,
                         "requests": 0, "bytes_out": 0, "bytes_in": 0}
            self._entries[dest] = entry  # most recently seen last: eviction pops from the front
            entry["last_seen"] = now
            entry["requests"] += requests
            entry["bytes_out"] += max(0, bytes_out)
            entry["bytes_in"] += max(0, bytes_in)
            if protocol not in entry["protocols"] and len(entry["protocols"]) < MAX_PROTOCOLS_PER_DESTINATION:
                entry["protocols"].append(protocol)
            if sni and sni not in entry["sni"] and len(entry["sni"]) < MAX_SNI_PER_DESTINATION:
                entry["sni"].append(sni)
            self._evict()
            self._dirty = True

    def add_bytes(self, dest: str, *, bytes_out: int = 0, bytes_in: int = 0) -> None:
        """Bytes learnt after the request was recorded (a response, a websocket message)."""
        with self._lock:
            entry = self._entries.get(dest)
            if entry is None:
                return
            entry["bytes_out"] += max(0, bytes_out)
            entry["bytes_in"] += max(0, bytes_in)
            self._dirty = True

    def _evict(self) -> None:
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
            self.evicted += 1

    def entries(self) -> list[dict]:
        with self._lock:
            return [dict(entry, sni=list(entry["sni"]), protocols=list(entry["protocols"]))
                    for entry in self._entries.values()]

    def maybe_save(self, force: bool = False) -> bool:
        """Write the file when something changed and the interval passed (or force); True when written."""
        now = self.clock()
        with self._lock:
            recent = self._saved_at is not None and now - self._saved_at < self.save_interval
            if not self._dirty or (recent and not force):
                return False
            document = {"schema": INVENTORY_SCHEMA, "updated_at": utc_timestamp(), "max_entries": self.max_entries,
                        "evicted": self.evicted, "destinations": list(self._entries.values())}
            data = (json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
            self._dirty = False
            self._saved_at = now
        self.home.write_atomic(self.path, data)
        return True


def read_inventory(path: Path) -> list[dict]:
    """The persisted destinations; a missing or damaged file is an empty inventory."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError):
        return []
    entries = document.get("destinations") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return []
    return [entry for entry in entries if isinstance(entry, dict) and isinstance(entry.get("dest"), str)
            and all(isinstance(entry.get(k), int) for k in ("requests", "bytes_out", "bytes_in"))
            and isinstance(entry.get("sni", []), list) and isinstance(entry.get("protocols", []), list)]


def sorted_destinations(entries: list[dict], key: str = "last_seen", reverse: bool = True) -> list[dict]:
    if key not in SORT_KEYS:
        raise ValueError(f"unknown sort key {key!r} (one of {', '.join(SORT_KEYS)})")
    return sorted(entries, key=lambda entry: (entry.get(key) or 0, entry["dest"]), reverse=reverse)


def top_destinations(home: GuardianHome, count: int = 5, key: str = "requests") -> list[dict]:
    """For status: the busiest destinations from <home>/run/egress.json."""
    return sorted_destinations(read_inventory(inventory_path(home)), key)[:count]


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
