"""formatting: the one human rendering of a finding (query --format table, status)."""

from __future__ import annotations

from datetime import UTC, datetime

from log_fixtures import make_finding, spread_findings
from traffic_guardian.report.formatting import (
    SNIPPET_WIDTH,
    TABLE_COLUMNS,
    clip,
    format_finding_line,
    format_findings_table,
    format_severity_counts,
    format_table_header,
    format_table_row,
    terminal_safe,
)


def _finding(**changes) -> dict:
    record = spread_findings(1)[0].to_dict()
    record.update(changes)
    return record


def test_finding_line_has_time_severity_rule_direction_dest_location_and_snippet():
    finding = _finding()
    line = format_finding_line(finding)
    assert "\n" not in line
    rule = f"{finding['pattern']}/{finding['variant']}"
    for part in (finding["timestamp"], finding["severity"].upper(), rule, finding["direction"],
                 finding["dest"], finding["location"], finding["snippet"]):
        assert part in line
    severity = finding["severity"].upper()
    assert line.index(finding["timestamp"]) < line.index(severity) < line.index(finding["dest"])


def test_finding_line_shows_suppressed_repeats_only_when_there_are_some():
    assert "(+3 suppressed)" in format_finding_line(_finding(suppressed=3))
    assert "suppressed" not in format_finding_line(_finding(suppressed=0))


def test_terminal_escape_sequences_and_bidi_controls_in_a_log_line_cannot_reach_the_terminal():
    hostile = _finding(dest="evil\x1b]0;pwned\x07.example:443", snippet="a\u202eb\u200bc\r\nd",
                       pattern="p\x1b[2J")
    for text in (format_finding_line(hostile), format_table_row(hostile)):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text and "\u200b" not in text
        assert "\r" not in text and "\n" not in text


def test_missing_fields_render_as_question_marks_instead_of_failing():
    line = format_finding_line({})
    assert line.startswith("? ? ?")
    assert format_table_row({"severity": 3})  # wrong type: still renders


def test_long_snippets_are_clipped_with_an_ellipsis():
    line = format_finding_line(_finding(snippet="x" * 500))
    assert "x" * (SNIPPET_WIDTH - 1) + "…" in line
    assert "x" * SNIPPET_WIDTH not in line
    assert clip("abcdef", 4) == "abc…" and clip("abc", 4) == "abc" and clip("abc", 0) == ""


def test_table_rows_line_up_under_fixed_width_columns_so_rows_can_stream():
    header = format_table_header()
    rows = [format_table_row(f.to_dict()) for f in spread_findings(7)]
    start = 0
    for column in TABLE_COLUMNS[:-1]:
        start_of_next = start + column.width + 2
        for row in rows:
            assert row[start_of_next - 2 : start_of_next] == "  "
        assert header[start : start + len(column.title)] == column.title
        start = start_of_next


def test_findings_table_has_a_header_and_one_row_per_finding_or_says_there_are_none():
    table = format_findings_table([make_finding(i, datetime(2026, 4, 26, tzinfo=UTC)).to_dict()
                                   for i in range(3)])
    assert len(table.splitlines()) == 4 and table.splitlines()[0].startswith("TIME")
    assert format_findings_table([]).splitlines()[1] == "(no findings)"


def test_severity_counts_read_most_severe_first():
    counts = {"info": 0, "low": 2, "medium": 0, "high": 3, "critical": 1}
    assert format_severity_counts(counts) == "critical 1, high 3, low 2"
    assert format_severity_counts(counts, include_zero=True).startswith("critical 1, high 3, medium 0")
    assert format_severity_counts({}) == "none"


def test_terminal_safe_folds_whitespace_and_stringifies():
    assert terminal_safe("a \t\n b") == "a b"
    assert terminal_safe(None) == "" and terminal_safe(5) == "5"
