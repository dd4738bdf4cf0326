"""Keeper of the child `start.sh --background -- CMD` runs: detached, recorded, reaped.

start.sh must give an agent its prompt back while the scoped child (the gateway) keeps
running, and status.py must still learn the child's pid and, later, how it ended. So
start.py spawns this small process in a session of its own (`child_keeper.py HOME -- CMD`,
with the scoped environment and the child's output already on its stdout and stderr); it
starts CMD, writes `<home>/run/child.json` (pid, kernel start time, the program's base
name, our own pid), waits for CMD and records its exit status there. It ignores SIGHUP and
SIGINT (the terminal that started it may go away) and forwards SIGTERM to the child.
Exit: the child's status, or 127 when CMD cannot be run (recorded with the reason).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from traffic_guardian.detect.finding import utc_timestamp  # noqa: E402
from traffic_guardian.home.guardian_home import GuardianHome  # noqa: E402
from traffic_guardian.home.run_files import process_start_time  # noqa: E402
from traffic_guardian.home.scoped_processes import write_child_record  # noqa: E402

KEEPER_FILE = Path(__file__).resolve()


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("child_keeper.py: usage: child_keeper.py HOME -- CMD ARGS...", file=sys.stderr)
        return 2
    home, command = GuardianHome(Path(argv[0])), argv[2:]
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    record = {"comm": os.path.basename(command[0])[:32], "keeper_pid": os.getpid(), "background": True,
              "started_at": utc_timestamp(), "pid": None, "process_start_time": None, "exit_status": None}
    try:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL,  # noqa: S603
                                 preexec_fn=_default_signals)  # noqa: PLW1509
    except OSError as exc:
        record.update(exit_status=127, error=f"cannot run {command[0]}: {exc.strerror or exc}",
                      ended_at=utc_timestamp())
        write_child_record(home, record)
        return 127
    record.update(pid=child.pid, process_start_time=process_start_time(child.pid))
    write_child_record(home, record)

    def forward(signum, _frame):
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    code = child.wait()
    record.update(exit_status=code if code >= 0 else 128 - code, ended_at=utc_timestamp())
    write_child_record(home, record)
    return record["exit_status"]


def _default_signals() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
