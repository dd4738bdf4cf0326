"""Which findings a query selects: time window, minimum severity, type, pattern, direction, dest.

scripts/query.py is argument handling around FindingFilter, so the selection rules live
here and the tests can hold them against the same filter written in jq.

Time bounds are a half-open window [since, until): adjacent windows never count a finding
twice. Findings carry fixed-width UTC timestamps (2026-04-26T10:00:00.000Z, SPEC section 8),
so a bound rendered the same way compares as a string; no per-line date parsing.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from traffic_guardian.detect.finding import SEVERITY_RANK, THREAT_TYPES, parse_utc, utc_timestamp
from traffic_guardian.detect.rules import FINDING_PATTERN_IDS

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(?:\d{1,9}[smhdw])+")
_DURATION_PART = re.compile(r"(\d{1,9})([smhdw])")


class FilterError(ValueError):
    """A filter value that cannot be understood; the message says which and why."""


def parse_duration(text: str) -> timedelta | None:
    """'15m', '2h', '7d', '1h30m', '90s', '2w' as a timedelta; None when text is not a duration."""
    text = text.strip().lower()
    if not _DURATION.fullmatch(text):
        return None
    seconds = sum(int(n) * DURATION_UNITS[unit] for n, unit in _DURATION_PART.findall(text))
    return timedelta(seconds=seconds)


def parse_time_bound(text: str, now: datetime) -> str:
    """A --since/--until value as a finding-comparable timestamp string.

    A duration means that long before now; anything else must be an ISO-8601 date or
    date-time (a trailing Z or an offset is honoured; without one the time is UTC).
    """
    duration = parse_duration(text)
    if duration is not None:
        try:
            return utc_timestamp(now - duration)
        except OverflowError:
            return utc_timestamp(datetime(1, 1, 1, tzinfo=UTC))
    try:
        moment = parse_utc(text)
    except ValueError:
        raise FilterError(f"{text!r} is neither a duration (15m, 2h, 7d, 1h30m) "
                          "nor an ISO-8601 time (2026-04-26T10:00:00Z)") from None
    return utc_timestamp(moment)


def parse_severity(text: str) -> int:
    rank = SEVERITY_RANK.get(text.strip().lower())
    if rank is None:
        raise FilterError(f"{text!r} is not a severity (one of: {', '.join(SEVERITY_RANK)})")
    return rank


@dataclass(frozen=True)
class FindingFilter:
    """All given conditions must hold; each multi-valued condition matches any of its values."""

    since: str | None = None  # inclusive, utc_timestamp form
    until: str | None = None  # exclusive
    min_severity: int | None = None  # SEVERITY_RANK of the lowest severity shown
    types: frozenset[str] = frozenset()  # threat_type, upper case
    patterns: frozenset[str] = frozenset()
    directions: frozenset[str] = frozenset()
    dest_globs: tuple[str, ...] = ()  # lower case; matched against host:port and host

    @classmethod
    def build(cls, *, since: str | None = None, until: str | None = None, severity: str | None = None,
              types: Iterable[str] = (), patterns: Iterable[str] = (), directions: Iterable[str] = (),
              dests: Iterable[str] = (), now: datetime | None = None) -> FindingFilter:
        """From command-line strings; raises FilterError naming the bad value."""
        now = now or datetime.now(UTC)
        return cls(
            since=_flag("--since", parse_time_bound, since, now) if since else None,
            until=_flag("--until", parse_time_bound, until, now) if until else None,
            min_severity=_flag("--severity", parse_severity, severity) if severity else None,
            types=frozenset(_known("--type", _split(types, str.upper), THREAT_TYPES)),
            patterns=frozenset(_known("--pattern", _split(patterns), FINDING_PATTERN_IDS)),
            directions=frozenset(_split(directions, str.lower)),
            dest_globs=tuple(_split(dests, str.lower)),
        )

    def matches(self, finding: dict) -> bool:
        if self.since is not None or self.until is not None:
            timestamp = finding.get("timestamp")
            if not isinstance(timestamp, str):
                return False
            if self.since is not None and timestamp < self.since:
                return False
            if self.until is not None and timestamp >= self.until:
                return False
        if self.min_severity is not None:
            rank = SEVERITY_RANK.get(finding.get("severity"))
            if rank is None or rank < self.min_severity:
                return False
        if self.types and finding.get("threat_type") not in self.types:
            return False
        if self.patterns and finding.get("pattern") not in self.patterns:
            return False
        if self.directions and finding.get("direction") not in self.directions:
            return False
        if self.dest_globs:
            dest = finding.get("dest")
            if not isinstance(dest, str) or not any(_dest_matches(dest.lower(), g) for g in self.dest_globs):
                return False
        return True


def _flag(flag: str, parse, *args):
    try:
        return parse(*args)
    except FilterError as exc:
        raise FilterError(f"{flag}: {exc}") from None


def _known(flag: str, values: list[str], known: tuple[str, ...]) -> list[str]:
    """A misspelt name would match nothing and read as an all-clear: refuse it, naming the known ones."""
    unknown = [value for value in values if value not in known]
    if unknown:
        raise FilterError(f"{flag}: unknown {', '.join(unknown)} (known: {', '.join(known)})")
    return values


def _dest_matches(dest: str, glob: str) -> bool:
    """A glob with a port matches host:port; one without matches the host alone too."""
    if fnmatch.fnmatchcase(dest, glob):
        return True
    host = dest.rsplit(":", 1)[0] if ":" in dest and not dest.endswith("]") else dest
    return fnmatch.fnmatchcase(host.strip("[]"), glob)


def _split(values: Iterable[str], normalise=None) -> list[str]:
    """Repeated flags and comma-separated lists both work: --type EXFIL,INJECTION."""
    out = []
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if item:
                out.append(normalise(item) if normalise else item)
    return out
