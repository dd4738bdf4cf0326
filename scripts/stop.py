#!/usr/bin/env python3
"""Stop the background traffic monitor of this guardian home.

The pid in <home>/run/monitor.pid is signalled only after proving it is still our monitor
(command line: our monitor entry point with our addon for this home; kernel start time:
the one recorded at start). SIGTERM first, SIGKILL after --timeout seconds. A stale
pidfile (process gone, or the pid now belongs to another program) is removed without
touching that program. Prints one JSON line {"outcome", "pid"}; exit 0 when stopped or
already stopped, 1 when it could not be stopped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from traffic_guardian.cli import EXIT_FAILURE, EXIT_OK, emit_json_line  # noqa: E402
from traffic_guardian.home.guardian_home import GuardianHome  # noqa: E402
from traffic_guardian.home.run_files import monitor_status, stop_monitor  # noqa: E402

PROGRAM = "stop.py"
MESSAGES = {
    "stopped": "monitor stopped (pid {pid})",
    "killed": "monitor did not exit after SIGTERM; killed (pid {pid})",
    "not-running": "no monitor running; nothing to stop",
    "stale-cleaned": "stale pidfile removed (pid {pid} is gone or is not our monitor; it was not signalled)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECS",
                        help="seconds to wait after SIGTERM before SIGKILL (default 10)")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    home = GuardianHome.from_env()
    result = stop_monitor(home, args.timeout)
    print(f"{PROGRAM}: {MESSAGES[result.outcome].format(pid=result.pid)}", file=sys.stderr)
    emit_json_line({"outcome": result.outcome, "pid": result.pid, "home": str(home.root)})
    if monitor_status(home).running:
        print(f"{PROGRAM}: the monitor of {home.root} is still running", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
