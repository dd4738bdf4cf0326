#!/usr/bin/env python3
"""Stop the background traffic monitor of this guardian home, without cutting a gateway off silently.

A process scoped to the monitor (the child start.sh ran, or any process of yours whose
proxy variables point at it) loses its network while the monitor is down: every request
fails with "proxy connection refused". So while one runs, stop.py says which and exits 1
without stopping anything, unless:
  --with-child   stop the child start.sh ran first (SIGTERM, SIGKILL after --timeout),
                 then the monitor; refused still if another scoped process runs
  --force        stop the monitor anyway (the scoped processes keep running, offline
                 until scripts/start.sh runs again: same credentials and port)

The pid in <home>/run/monitor.pid is signalled only after proving it is still our monitor
(command line: our monitor entry point with our addon for this home; kernel start time:
the one recorded at start). SIGTERM first, SIGKILL after --timeout seconds. A stale
pidfile (process gone, or the pid now belongs to another program) is removed without
touching that program. Prints one JSON line {"outcome", "pid", "home", "scoped"}; exit 0
when stopped or already stopped, 1 when it could not be stopped or refused to.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from traffic_guardian.cli import EXIT_FAILURE, EXIT_OK, emit_json_line  # noqa: E402
from traffic_guardian.home.guardian_home import GuardianHome  # noqa: E402
from traffic_guardian.home.run_files import monitor_status, stop_monitor  # noqa: E402
from traffic_guardian.home.scoped_processes import scoped_to_monitor, stop_child  # noqa: E402

PROGRAM = "stop.py"
MESSAGES = {
    "stopped": "monitor stopped (pid {pid})",
    "killed": "monitor did not exit after SIGTERM; killed (pid {pid})",
    "not-running": "no monitor running; nothing to stop",
    "stale-cleaned": "stale pidfile removed (pid {pid} is gone or is not our monitor; it was not signalled)",
}


def describe(processes) -> str:
    return ", ".join(f"pid {p.pid} ({p.comm}, {'started by start.sh' if p.started_by_us else 'not started by us'})"
                     for p in processes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=10.0, metavar="SECS",
                        help="seconds to wait after SIGTERM before SIGKILL (default 10)")
    parser.add_argument("--force", action="store_true",
                        help="stop the monitor even though a scoped process runs (it loses its network)")
    parser.add_argument("--with-child", action="store_true",
                        help="stop the child start.sh ran, then the monitor")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    home = GuardianHome.from_env()
    status = monitor_status(home)
    live = [p for p in scoped_to_monitor(home, status.info) if p.alive] if status.running else []
    if args.with_child:
        for process in [p for p in live if p.started_by_us]:
            outcome = stop_child(home, args.timeout)
            print(f"{PROGRAM}: scoped child {process.comm} (pid {process.pid}) {outcome}", file=sys.stderr)
        live = [p for p in scoped_to_monitor(home, status.info) if p.alive]
    if live and not args.force:
        print(f"{PROGRAM}: not stopping: {describe(live)} is scoped to this monitor and would lose its network "
              "(every request fails with 'proxy connection refused'); --with-child stops the child start.sh "
              "ran first, --force stops the monitor anyway", file=sys.stderr)
        emit_json_line({"outcome": "refused", "pid": status.pid, "home": str(home.root),
                        "scoped": [p.as_dict() for p in live]})
        return EXIT_FAILURE
    if live:
        print(f"{PROGRAM}: --force: {describe(live)} keeps running without its proxy until scripts/start.sh "
              "runs again (same credentials and port)", file=sys.stderr)
    result = stop_monitor(home, args.timeout)
    print(f"{PROGRAM}: {MESSAGES[result.outcome].format(pid=result.pid)}", file=sys.stderr)
    emit_json_line({"outcome": result.outcome, "pid": result.pid, "home": str(home.root),
                    "scoped": [p.as_dict() for p in live]})
    if monitor_status(home).running:
        print(f"{PROGRAM}: the monitor of {home.root} is still running", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
