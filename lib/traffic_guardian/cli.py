"""Command-line conventions shared by every script in scripts/.

Exit codes: 0 success, 1 runtime failure, 2 bad usage or config, 3 not running (status).
Machine output (JSON Lines) goes to stdout, human messages to stderr, one line per error
saying what and where. Scripts stay a few dozen lines of argument handling around lib/.
"""

from __future__ import annotations

import json
import sys
from typing import NoReturn

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3


def fail(program: str, message: str, code: int = EXIT_FAILURE) -> NoReturn:
    print(f"{program}: {message}", file=sys.stderr)
    raise SystemExit(code)


def emit_json_line(record: dict) -> None:
    """One JSON object per line on stdout; a closed pipe (| head) ends quietly."""
    try:
        sys.stdout.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    except BrokenPipeError:
        raise SystemExit(EXIT_OK) from None


def load_config_or_exit(program: str, cli_path: str | None):
    """The effective config, or one line per problem on stderr and exit 2."""
    from traffic_guardian.home.config import ConfigError, load_config

    try:
        return load_config(cli_path)
    except ConfigError as error:
        for problem in error.problems:
            print(f"{program}: {problem.line(error.source)}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
