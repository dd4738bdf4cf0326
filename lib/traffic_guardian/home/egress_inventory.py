"""Egress inventory: which destinations the gateway talks to, persisted in the home.

The inventory answers "where does my agent send data?" per destination (host:port, plus
the SNI names seen on passthrough TLS tunnels): first and last seen, requests, bytes out
and in. It is bounded (egress_inventory_max; the least recently seen destination is
evicted first) and persisted atomically to <home>/run/egress.json: the first change at
once, then at most every SAVE_INTERVAL_SECS, and when the monitor stops; a restart
carries on from the file. The allowlist that judges these destinations is
detect/egress_policy.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from traffic_guardian.detect.finding import utc_timestamp
from traffic_guardian.home.guardian_home import GuardianHome

INVENTORY_SCHEMA = "clawsec-traffic-egress/v1"
INVENTORY_FILE = "egress.json"  # under <home>/run/
SAVE_INTERVAL_SECS = 5.0
MAX_SNI_PER_DESTINATION = 5
MAX_PROTOCOLS_PER_DESTINATION = 5
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
