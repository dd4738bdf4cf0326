#!/usr/bin/env python3
"""Query the findings log (live file and rotated backups, oldest first) as JSON Lines for jq.

  scripts/query.py --since 1h --severity high | jq -r .pattern
  scripts/query.py --type EXFIL --dest '*.example.com' --limit 20 --format table
  scripts/query.py --follow --severity medium          # stream new findings; Ctrl-C stops

Times: --since/--until take a duration back from now (90s, 15m, 2h, 7d, 2w, 1h30m) or an
ISO-8601 time (2026-04-26, 2026-04-26T10:00:00Z; UTC when no offset); the window is
[since, until). Filters that take names accept repeats or commas (--type EXFIL,POLICY).
Unreadable lines (a truncated last line after a crash, a corrupt line) are skipped and
counted on stderr; they never stop the query. Exit 0 ok, 1 read failure, 2 bad usage.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from traffic_guardian.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, emit_json_line, fail, load_config_or_exit  # noqa: E402
from traffic_guardian.detect.finding import SEVERITIES  # noqa: E402
from traffic_guardian.home.findings_log import FindingsFollower, live_log_path, log_paths, read_log  # noqa: E402
from traffic_guardian.home.run_files import monitor_status  # noqa: E402
from traffic_guardian.report.finding_filter import FilterError, FindingFilter  # noqa: E402
from traffic_guardian.report.formatting import format_table_header, format_table_row  # noqa: E402

PROGRAM = "query.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--since", metavar="WHEN", help="findings at or after WHEN (duration or ISO time)")
    parser.add_argument("--until", metavar="WHEN", help="findings before WHEN (duration or ISO time)")
    parser.add_argument("--severity", metavar="LEVEL", help=f"minimum severity: {', '.join(SEVERITIES)}")
    parser.add_argument("--type", dest="types", action="append", default=[], metavar="TYPE",
                        help="threat type: EXFIL, INJECTION, POLICY (repeatable)")
    parser.add_argument("--pattern", dest="patterns", action="append", default=[], metavar="ID",
                        help="pattern id, e.g. ai_api_key (repeatable)")
    parser.add_argument("--direction", dest="directions", action="append", default=[],
                        choices=("outbound", "inbound"), help="outbound or inbound (repeatable)")
    parser.add_argument("--dest", dest="dests", action="append", default=[], metavar="GLOB",
                        help="destination glob, host or host:port, e.g. '*.example.com' (repeatable)")
    parser.add_argument("--limit", type=_positive_int, metavar="N", help="only the last N matching findings")
    parser.add_argument("--follow", "-f", action="store_true",
                        help="after the history, stream new findings as they are written (Ctrl-C stops)")
    parser.add_argument("--format", choices=("jsonl", "table"), default="jsonl",
                        help="jsonl (default, one finding per line for jq) or a human table")
    parser.add_argument("--config", help="config file (default: see SPEC.md section 4)")
    parser.add_argument("--log-dir", metavar="DIR",
                        help="read findings.jsonl* from DIR (default: the running monitor's log, "
                             "else the config's log_dir)")
    args = parser.parse_args(argv)

    config = load_config_or_exit(PROGRAM, args.config)
    try:
        selection = FindingFilter.build(since=args.since, until=args.until, severity=args.severity,
                                        types=args.types, patterns=args.patterns, directions=args.directions,
                                        dests=args.dests)
    except FilterError as exc:
        fail(PROGRAM, str(exc), EXIT_USAGE)
    if args.log_dir:
        live = Path(args.log_dir).expanduser() / "findings.jsonl"
    else:
        live = live_log_path(config, monitor_status(config.home))
    if args.log_dir and not live.parent.is_dir():
        fail(PROGRAM, f"--log-dir {args.log_dir}: not a directory", EXIT_USAGE)

    stop = threading.Event()
    _stop_on_signals(stop)
    out = _Output(args.format)
    reader = read_log(live)
    try:
        if args.limit:
            # The last N matches, holding at most N findings whatever the log's size.
            for finding in deque((f for f in reader if selection.matches(f)), maxlen=args.limit):
                out.write(finding)
        else:
            for finding in reader:
                if stop.is_set():
                    break
                if selection.matches(finding):
                    out.write(finding)
        follower = None
        if args.follow and not stop.is_set():
            # Continue exactly where the history pass ended; when it read nothing, everything
            # that appears from now on is new, so start at the beginning of the live file.
            follower = FindingsFollower(live, start=reader.end_position or (-1, 0), stop=stop)
            for finding in follower:
                if selection.matches(finding):
                    out.write(finding, flush=True)
    except OSError as exc:
        where = exc.filename or live
        fail(PROGRAM, f"{where}: cannot read the findings log: {exc.strerror or exc}", EXIT_FAILURE)
    finally:
        out.close()
    _report(reader, follower, live)
    return EXIT_OK


class _Output:
    """JSON Lines, or a table whose header appears before the first row (even with no rows)."""

    def __init__(self, fmt: str):
        self.table = fmt == "table"
        self.started = False

    def write(self, finding: dict, flush: bool = False) -> None:
        if self.table:
            self._header()
            _print(format_table_row(finding))
        else:
            emit_json_line(finding)
        if flush:
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                raise SystemExit(EXIT_OK) from None

    def _header(self) -> None:
        if not self.started:
            self.started = True
            _print(format_table_header())

    def close(self) -> None:
        if self.table:
            self._header()


def _print(line: str) -> None:
    try:
        sys.stdout.write(line + "\n")
    except BrokenPipeError:
        raise SystemExit(EXIT_OK) from None


def _report(reader, follower, live: Path) -> None:
    if not log_paths(live) and follower is None:
        print(f"{PROGRAM}: no findings log at {live} yet", file=sys.stderr)
    for source in (reader, follower):
        if source is not None and source.skipped:
            print(f"{PROGRAM}: {live.parent}: {source.skips.describe()}", file=sys.stderr)


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGINT/SIGTERM end --follow cleanly: the loop notices, stdout is flushed, exit 0."""
    def handler(_signum, _frame):
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        sys.exit(EXIT_OK)
