"""Finding: the one record the guardian writes, schema clawsec-traffic-finding/v1.

Field order is fixed so lines read the same in every log; SPEC.md documents each field.
A Finding only ever holds redacted text: the engine builds the snippet through
redact.py before a Finding exists.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from traffic_guardian import FINDING_SCHEMA, PLATFORM

SEVERITIES = ("info", "low", "medium", "high", "critical")
THREAT_TYPES = ("EXFIL", "INJECTION", "POLICY")
# Pattern ids of findings no rule in rules/ makes: the known-secret matcher, egress policy,
# and the monitor's own checks (SPEC sections 6, 10 and 12).
NON_RULE_PATTERNS = ("known_secret", "unexpected_egress", "proxy_bypass", "private_destination",
                     "upstream_tls_error", "scan_incomplete")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


def utc_timestamp(moment: datetime | None = None) -> str:
    """UTC ISO-8601 with milliseconds and a Z, e.g. 2026-04-26T00:00:00.000Z; now when no moment."""
    if moment is None:
        return timestamp_at_ns(time.time_ns())
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_second_formatted: tuple[int, str] = (-1, "")  # (a whole second since the epoch, its text up to the '.')


def timestamp_at_ns(nanoseconds: int) -> str:
    """utc_timestamp of a time.time_ns() reading. The egress inventory stamps every request,
    and strftime per call was a tenth of the monitor's own work on a request: the text up to
    the seconds is formatted once per second and reused."""
    global _second_formatted
    second, rest = divmod(nanoseconds, 1_000_000_000)
    cached = _second_formatted
    if cached[0] != second:
        cached = _second_formatted = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S."))
    return f"{cached[1]}{rest // 1_000_000:03d}Z"


def parse_utc(text: str) -> datetime:
    """An ISO-8601 time as an aware UTC datetime (a Z or offset honoured; none means UTC).

    Raises ValueError when text is not ISO-8601.
    """
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass
class Finding:
    direction: str
    protocol: str
    threat_type: str
    pattern: str
    variant: str
    severity: str
    source: str
    dest: str
    location: str
    snippet: str
    description: str
    flow_id: str = ""
    encoding: str = "raw"
    provider: str | None = None
    secret_owner: str | None = None  # known_secret: the PicoClaw model/channel/tool the secret belongs to
    # scan_incomplete only: the part's size (None: not known) and how much of it was scanned
    bytes_total: int | None = None
    bytes_scanned: int | None = None
    suppressed: int = 0
    timestamp: str = field(default_factory=utc_timestamp)
    finding_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_dict(self) -> dict:
        record = {"schema_version": FINDING_SCHEMA, "platform": PLATFORM}
        record.update(asdict(self))
        if record["provider"] is None:
            del record["provider"]
        if record["secret_owner"] is None:
            del record["secret_owner"]
        if record["pattern"] != "scan_incomplete":
            del record["bytes_total"], record["bytes_scanned"]
        return record

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @property
    def dedup_key(self) -> tuple[str, str, str, str]:
        return (self.pattern, self.dest, self.direction, self.location)
