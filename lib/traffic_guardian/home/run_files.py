"""The running monitor as other scripts see it: pidfile, state file and process identity.

start.py writes `<home>/run/monitor.pid` and `<home>/run/state.json`; status.py, stop.py
and export-profile read them through monitor_status(). A pid alone proves nothing: after a
crash or reboot the number can belong to any program. So a pid counts as our monitor only
when its command line is our monitor entry point with our addon and this home, AND its
kernel start time (/proc/<pid>/stat field 22) equals the one recorded at start. Anything
else is "stale": reported and cleaned, never signalled.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from traffic_guardian.home.guardian_home import GuardianHome

PROXY_DIR = Path(__file__).resolve().parents[1] / "proxy"
MONITOR_ENTRY = PROXY_DIR / "monitor.py"  # the process start.py spawns (runs mitmdump in-process)
ADDON_FILE = PROXY_DIR / "addon.py"  # loaded by mitmdump with -s

RUNNING = "running"
STOPPED = "stopped"
STALE = "stale"

# Files that describe one run; stop and stale cleanup remove them together.
SUPERVISOR_FILE = "supervisor.json"  # the proxy's pid and restarts (proxy/supervisor.py)
RUN_FILE_NAMES = ("monitor.pid", "state.json", "counters.json", SUPERVISOR_FILE)
# Files that outlive a run, so a restarted monitor serves the processes scoped to the last
# one (same credentials, same port): only `start.sh --new-credentials` replaces them.
CREDENTIALS_FILE = "proxy-credentials.json"  # username, password, listen_host, listen_port (control/launch.py)
PERSISTENT_FILE_NAMES = ("proxyauth.htpasswd", CREDENTIALS_FILE, "proxy.env")


@dataclass
class MonitorStatus:
    state: str  # RUNNING | STOPPED | STALE
    pid: int | None = None
    info: dict = field(default_factory=dict)  # parsed <home>/run/state.json, or {}

    @property
    def running(self) -> bool:
        return self.state == RUNNING


# -- /proc ----------------------------------------------------------------------------------


def process_start_time(pid: int) -> int | None:
    """Kernel start time of pid in clock ticks since boot; None when it does not exist (or is a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode("ascii", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    try:
        return int(fields[19])  # field 22 overall; fields[0] is field 3 (state)
    except (IndexError, ValueError):
        return None


def process_cmdline(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return [part.decode("utf-8", "surrogateescape") for part in raw.split(b"\0") if part]


def monitor_argv_marks(home: GuardianHome) -> tuple[str, str, str]:
    """Arguments whose joint presence identifies the monitor of this home (start.py puts them in argv)."""
    return str(MONITOR_ENTRY), str(ADDON_FILE), f"guardian_home={home.root}"


def is_our_monitor(pid: int, start_time: int | None, home: GuardianHome) -> bool:
    """pid runs our monitor entry point with our addon for this home, and started when we recorded."""
    if pid <= 0 or start_time is None:
        return False
    actual = process_start_time(pid)
    if actual is None or actual != start_time:
        return False
    argv = process_cmdline(pid)
    if not argv:
        return False
    return all(mark in argv for mark in monitor_argv_marks(home))


# -- run files --------------------------------------------------------------------------------


def read_record(home: GuardianHome, path: Path) -> dict:
    """A JSON object the guardian wrote in the home; {} when it is missing, unreadable or not an object."""
    try:
        data = json.loads(home.read_text(path))
    except (FileNotFoundError, OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_state(home: GuardianHome) -> dict:
    return read_record(home, home.state_file)


def read_counters(home: GuardianHome) -> dict:
    return read_record(home, home.counters_file)


def read_supervisor(home: GuardianHome) -> dict:
    """The supervisor's record: proxy_pid, restarts, last_exit, last_restart_at, gave_up; {} when none."""
    return read_record(home, home.run_dir / SUPERVISOR_FILE)


def read_credentials_record(home: GuardianHome) -> dict:
    """The kept proxy credentials and address (CREDENTIALS_FILE); {} when none."""
    return read_record(home, home.run_dir / CREDENTIALS_FILE)


def read_pidfile(home: GuardianHome) -> int | None:
    try:
        text = home.read_text(home.pidfile).strip()
    except (FileNotFoundError, OSError):
        return None
    return int(text) if text.isdigit() else None


def write_run_files(home: GuardianHome, state: dict) -> None:
    """Pidfile and state file (0600, atomic). state must hold pid and process_start_time."""
    home.ensure_dir(home.run_dir)
    home.write_atomic(home.state_file, (json.dumps(state, indent=2, sort_keys=True) + "\n").encode())
    home.write_atomic(home.pidfile, f"{state['pid']}\n".encode())


class RunFilesKeeper:
    """The monitor's copy of its own run files, put back when they vanish while it runs.

    If the home is removed under a running monitor, the findings log and counters are
    recreated by their next write, but without the pidfile and state file status.py would
    say "stopped" and stop.py could not find the monitor. The monitor calls check() about
    once a second: it remembers the run files that name its own pid and restores them
    (0600, through GuardianHome) when the state file is gone.
    """

    # counters and supervisor state: rewritten anyway; persistent files: restored with the rest
    KEPT = (*(name for name in RUN_FILE_NAMES if name not in ("counters.json", "supervisor.json")),
            *PERSISTENT_FILE_NAMES)

    def __init__(self, home: GuardianHome, pid: int):
        self.home = home
        self.pid = pid
        self.saved: dict[str, str] = {}

    def check(self) -> bool:
        """Remember or restore; True when the run files were restored."""
        try:
            state = self.home.read_text(self.home.state_file)
        except FileNotFoundError:
            return self._restore()
        if state != self.saved.get("state.json"):
            self._remember(state)
        return False

    def _remember(self, state: str) -> None:
        try:
            if json.loads(state).get("pid") != self.pid:
                return
            saved = {name: self.home.read_text(self.home.run_dir / name) for name in self.KEPT
                     if name != "state.json"}
        except (OSError, ValueError, AttributeError):
            return  # mid-write by start.py, or not ours: try again next time
        self.saved = {**saved, "state.json": state}

    def _restore(self) -> bool:
        if not self.saved:
            return False
        self.home.ensure_dir(self.home.run_dir)
        for name in sorted(self.saved, key=lambda n: n == "state.json"):  # the state file last
            self.home.write_atomic(self.home.run_dir / name, self.saved[name].encode())
        return True


def clear_run_files(home: GuardianHome) -> None:
    for name in RUN_FILE_NAMES:
        try:
            os.unlink(home.run_dir / name)
        except FileNotFoundError:
            pass


def monitor_status(home: GuardianHome) -> MonitorStatus:
    """running: pidfile names a live process proven to be our monitor; stale: run files exist but
    the process is gone or is someone else; stopped: no run files."""
    info = read_state(home)
    pid = read_pidfile(home)
    if pid is None and isinstance(info.get("pid"), int):
        pid = info["pid"]
    if pid is None:
        return MonitorStatus(STALE if info else STOPPED, None, info)
    start_time = info.get("process_start_time")
    if info.get("pid") == pid and isinstance(start_time, int) and is_our_monitor(pid, start_time, home):
        return MonitorStatus(RUNNING, pid, info)
    return MonitorStatus(STALE, pid, info)


# -- stopping ---------------------------------------------------------------------------------


@dataclass
class StopResult:
    outcome: str  # "stopped" | "killed" | "not-running" | "stale-cleaned"
    pid: int | None = None


def stop_monitor(home: GuardianHome, timeout: float = 10.0) -> StopResult:
    """SIGTERM our monitor (identity re-checked right before each signal), SIGKILL after timeout.

    A stale pidfile is removed without signalling whatever now owns that pid.
    """
    status = monitor_status(home)
    if status.state == STOPPED:
        return StopResult("not-running")
    if status.state == STALE:
        clear_run_files(home)
        return StopResult("stale-cleaned", status.pid)
    pid, start_time = status.pid, status.info["process_start_time"]
    assert pid is not None
    outcome = "stopped"
    if _signal_if_ours(pid, start_time, home, signal.SIGTERM):
        if not wait_for_exit(pid, start_time, timeout):
            outcome = "killed"
            _signal_if_ours(pid, start_time, home, signal.SIGKILL)
            wait_for_exit(pid, start_time, 5.0)
    clear_run_files(home)
    return StopResult(outcome, pid)


def _signal_if_ours(pid: int, start_time: int, home: GuardianHome, signum: int) -> bool:
    if not is_our_monitor(pid, start_time, home):
        return False
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return False
    return True


def wait_for_exit(pid: int, start_time: int, timeout: float) -> bool:
    """True once pid no longer runs the process that started at start_time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_start_time(pid) != start_time:
            return True
        _reap(pid)
        time.sleep(0.05)
    return process_start_time(pid) != start_time


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
