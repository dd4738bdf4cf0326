"""Live counters of the running monitor, written to <home>/run/counters.json for status.py.

The monitor process is the only writer; it rewrites the whole file atomically about once a
second when something changed, so a reader never sees half a file. Destinations live in
the egress inventory (egress.py, run/egress.json), not here.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

from traffic_guardian.detect.finding import utc_timestamp
from traffic_guardian.home.guardian_home import GuardianHome

COUNTERS_SCHEMA = "clawsec-traffic-counters/v1"


class MonitorCounters:
    def __init__(self, home: GuardianHome):
        self.home = home
        self._lock = threading.Lock()
        self.requests = 0
        self.responses = 0
        self.websocket_messages = 0
        self.findings_written = 0
        self.findings_suppressed = 0
        self.findings_by_severity: Counter[str] = Counter()
        # "<threat_type>|<pattern>|<severity>" -> written findings: the metrics' bounded label set
        self.findings_by_kind: Counter[str] = Counter()
        self.known_secret_by_kind: Counter[str] = Counter()  # known_secret findings by owner kind (variant)
        self.last_finding_at: str | None = None
        self.bytes_out = 0  # request and client websocket bytes forwarded, headers included
        self.bytes_in = 0
        self.scanner_backlog = 0  # exchanges handed to the scanner process and not yet answered (a gauge)
        self.scanner_restarts = 0
        self.syslog_sent = 0  # findings copied to syslog (home/syslog_sink.py)
        self.syslog_dropped = 0
        self.expected_credential_uses: Counter[str] = Counter()
        self.write_errors = 0
        self.last_write_error: str | None = None
        self.addon_errors = 0
        self.last_addon_error: str | None = None
        self.scan_waits = 0  # times a hand-off waited for the scanner process to catch up (proxy/scan_process.py)
        self.messages_cut = 0  # scan_incomplete: parts longer than max_scan_bytes, every one (before dedup)
        self.bytes_unscanned = 0  # where their size was known
        self.upstream_tls_errors = 0
        self.last_upstream_tls_error: str | None = None
        self.dirty = True

    def bump(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)
            self.dirty = True

    def finding(self, severity: str, written: bool, threat_type: str = "", pattern: str = "",
                variant: str = "", timestamp: str | None = None) -> None:
        with self._lock:
            if written:
                self.findings_written += 1
                self.findings_by_severity[severity] += 1
                if pattern:
                    self.findings_by_kind[f"{threat_type}|{pattern}|{severity}"] += 1
                if pattern == "known_secret":
                    self.known_secret_by_kind[variant or "unknown"] += 1
                self.last_finding_at = timestamp or utc_timestamp()
            else:
                self.findings_suppressed += 1
            self.dirty = True

    def set_expected_uses(self, uses: Counter[str]) -> None:
        with self._lock:
            if uses != self.expected_credential_uses:
                self.expected_credential_uses = Counter(uses)
                self.dirty = True

    def set_scanner(self, backlog: int, restarts: int) -> None:
        with self._lock:
            if (backlog, restarts) != (self.scanner_backlog, self.scanner_restarts):
                self.scanner_backlog, self.scanner_restarts = backlog, restarts
                self.dirty = True

    def set_syslog(self, sent: int, dropped: int) -> None:
        with self._lock:
            if (sent, dropped) != (self.syslog_sent, self.syslog_dropped):
                self.syslog_sent, self.syslog_dropped = sent, dropped
                self.dirty = True

    def traffic(self, bytes_out: int, bytes_in: int) -> None:
        with self._lock:
            self.bytes_out += bytes_out
            self.bytes_in += bytes_in
            self.dirty = True

    def write_error(self, message: str) -> None:
        """message must already be redacted."""
        with self._lock:
            self.write_errors += 1
            self.last_write_error = message
            self.dirty = True

    def addon_error(self, message: str) -> None:
        """message must already be redacted."""
        with self._lock:
            self.addon_errors += 1
            self.last_addon_error = message
            self.dirty = True

    def cut(self, total: int | None, scanned: int | None) -> None:
        with self._lock:
            self.messages_cut += 1
            if isinstance(total, int) and isinstance(scanned, int) and total > scanned:
                self.bytes_unscanned += total - scanned
            self.dirty = True

    def upstream_tls_error(self, message: str) -> None:
        """message must already be redacted: destination and reason."""
        with self._lock:
            self.upstream_tls_errors += 1
            self.last_upstream_tls_error = message
            self.dirty = True

    def to_dict(self) -> dict:
        with self._lock:
            return {
                "schema_version": COUNTERS_SCHEMA,
                "requests": self.requests,
                "responses": self.responses,
                "websocket_messages": self.websocket_messages,
                "findings_written": self.findings_written,
                "findings_suppressed": self.findings_suppressed,
                "findings_by_severity": dict(self.findings_by_severity),
                "findings_by_kind": dict(self.findings_by_kind),
                "known_secret_by_kind": dict(self.known_secret_by_kind),
                "last_finding_at": self.last_finding_at,
                "bytes_out": self.bytes_out,
                "bytes_in": self.bytes_in,
                "scanner_backlog": self.scanner_backlog,
                "scanner_restarts": self.scanner_restarts,
                "syslog_sent": self.syslog_sent,
                "syslog_dropped": self.syslog_dropped,
                "expected_credential_uses": dict(self.expected_credential_uses),
                "write_errors": self.write_errors,
                "last_write_error": self.last_write_error,
                "addon_errors": self.addon_errors,
                "last_addon_error": self.last_addon_error,
                "scan_waits": self.scan_waits,
                "messages_cut": self.messages_cut,
                "bytes_unscanned": self.bytes_unscanned,
                "upstream_tls_errors": self.upstream_tls_errors,
                "last_upstream_tls_error": self.last_upstream_tls_error,
                "updated_at": utc_timestamp(),
            }

    def flush(self, force: bool = False) -> bool:
        """Rewrite counters.json when something changed (or force); True when written."""
        if not (self.dirty or force):
            return False
        self.dirty = False
        data = json.dumps(self.to_dict(), indent=2, sort_keys=True).encode() + b"\n"
        self.home.write_atomic(self.home.counters_file, data)
        return True
