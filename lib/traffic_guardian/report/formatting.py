"""Human formatting of findings: the one place that turns a finding into text for people.

query.py --format table and status.py both print through here, so a finding reads the
same everywhere. Machine output is JSON Lines and never goes through this module.

Findings are already redacted (SPEC section 7); this module only makes them safe for a
terminal: every field is stripped of control, zero-width and bidi characters (a log line
is data, and a crafted dest or snippet must not move the cursor or recolour the screen)
and cut to a bounded width. Columns have fixed widths so a table can be streamed one row
at a time (query.py --follow) without holding the log in memory.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from traffic_guardian.detect.finding import SEVERITIES

ELLIPSIS = "…"
SNIPPET_WIDTH = 120


def terminal_safe(value: object) -> str:
    """str(value) with control/format characters (Cc, Cf, line breaks) as spaces, runs folded."""
    text = "" if value is None else str(value)
    cleaned = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text)
    return " ".join(cleaned.split())


def clip(text: str, width: int) -> str:
    """text cut to width characters, ending in an ellipsis when something was cut."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + ELLIPSIS


def rule_label(finding: dict) -> str:
    """pattern/variant, or just the pattern when there is no variant."""
    pattern = terminal_safe(finding.get("pattern") or "?")
    variant = terminal_safe(finding.get("variant") or "")
    return f"{pattern}/{variant}" if variant else pattern


def severity_label(finding: dict) -> str:
    return terminal_safe(finding.get("severity") or "?").upper()


def format_finding_line(finding: dict) -> str:
    """One line: time, severity, pattern/variant, direction, dest, location, snippet.

    2026-04-26T10:00:00.000Z HIGH ai_api_key/openai_project outbound evil.example:443
    request.body "…Authorization: [REDACTED ai_api_key sk-proj- len=164 fp=…]…"
    (shown wrapped here; it is one line). Repeats suppressed by dedup are appended as (+N).
    """
    parts = [
        terminal_safe(finding.get("timestamp") or "?"),
        severity_label(finding),
        rule_label(finding),
        terminal_safe(finding.get("direction") or "?"),
        terminal_safe(finding.get("dest") or "?"),
        terminal_safe(finding.get("location") or "?"),
    ]
    snippet = terminal_safe(finding.get("snippet"))
    if snippet:
        parts.append('"' + clip(snippet, SNIPPET_WIDTH) + '"')
    suppressed = finding.get("suppressed")
    if isinstance(suppressed, int) and not isinstance(suppressed, bool) and suppressed > 0:
        parts.append(f"(+{suppressed} suppressed)")
    return " ".join(parts)


@dataclass(frozen=True)
class Column:
    title: str
    width: int  # 0: last column, unbounded up to SNIPPET_WIDTH
    value: Callable[[dict], str]


TABLE_COLUMNS: tuple[Column, ...] = (
    Column("TIME", 24, lambda f: terminal_safe(f.get("timestamp") or "?")),
    Column("SEVERITY", 8, severity_label),
    Column("PATTERN", 34, rule_label),
    Column("DIR", 8, lambda f: terminal_safe(f.get("direction") or "?")),
    Column("DEST", 30, lambda f: terminal_safe(f.get("dest") or "?")),
    Column("LOCATION", 28, lambda f: terminal_safe(f.get("location") or "?")),
    Column("SNIPPET", 0, lambda f: terminal_safe(f.get("snippet"))),
)


def _cells(values: Iterable[str], columns: tuple[Column, ...]) -> str:
    out = []
    for column, value in zip(columns, values, strict=True):
        if column.width:
            out.append(clip(value, column.width).ljust(column.width))
        else:
            out.append(clip(value, SNIPPET_WIDTH))
    return "  ".join(out).rstrip()


def format_table_header(columns: tuple[Column, ...] = TABLE_COLUMNS) -> str:
    return _cells((c.title for c in columns), columns)


def format_table_row(finding: dict, columns: tuple[Column, ...] = TABLE_COLUMNS) -> str:
    return _cells((c.value(finding) for c in columns), columns)


def format_findings_table(findings: Iterable[dict], columns: tuple[Column, ...] = TABLE_COLUMNS,
                          empty: str = "(no findings)") -> str:
    """Header plus one row per finding, newline-joined (no trailing newline)."""
    rows = [format_table_header(columns)]
    rows += [format_table_row(finding, columns) for finding in findings]
    return "\n".join(rows) if len(rows) > 1 else f"{rows[0]}\n{empty}"


def format_severity_counts(by_severity: dict[str, int], include_zero: bool = False) -> str:
    """'critical 1, high 3, medium 0 ...' from most to least severe (status and summaries)."""
    order = [*reversed(SEVERITIES), *sorted(k for k in by_severity if k not in SEVERITIES)]
    parts = [f"{name} {by_severity.get(name, 0)}" for name in order
             if include_zero or by_severity.get(name, 0)]
    return ", ".join(parts) if parts else "none"
