"""process: monitor identity by command line AND kernel start time; stale run files never signal anyone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from traffic_guardian.home.guardian_home import GuardianHome
from traffic_guardian.home.run_files import (
    ADDON_FILE,
    MONITOR_ENTRY,
    is_our_monitor,
    monitor_status,
    process_cmdline,
    process_start_time,
    stop_monitor,
    write_run_files,
)


def _started(process: subprocess.Popen) -> int:
    """The process's start time, once it runs its own command line: right after the fork
    /proc still shows the parent's (pytest's), and identity checks read the command line."""
    deadline = time.monotonic() + 10
    expected = "\0".join(str(arg) for arg in process.args).encode() + b"\0"
    while time.monotonic() < deadline:
        value = process_start_time(process.pid)
        try:
            execed = Path(f"/proc/{process.pid}/cmdline").read_bytes() == expected
        except OSError:
            execed = False
        if value is not None and execed:
            return value
        time.sleep(0.02)
    raise AssertionError(f"pid {process.pid} did not start {process.args!r} within 10 s")


def test_start_time_of_self_and_of_a_missing_pid():
    assert process_start_time(os.getpid()) > 0
    assert process_start_time(2**22 + 12345) is None
    assert process_cmdline(os.getpid())


def test_no_run_files_is_stopped(tmp_path):
    status = monitor_status(GuardianHome(tmp_path))
    assert (status.state, status.pid, status.info) == ("stopped", None, {})


def test_identity_needs_our_command_line_home_and_start_time(tmp_path):
    home = GuardianHome(tmp_path)
    marks = [str(MONITOR_ENTRY), str(ADDON_FILE), f"guardian_home={tmp_path}"]
    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *marks])
    other_home = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *marks[:2],
                                   f"guardian_home={tmp_path}/elsewhere"])
    try:
        start = _started(ours)
        assert is_our_monitor(ours.pid, start, home)
        assert not is_our_monitor(ours.pid, start + 1, home)  # pid reused after a reboot/crash
        assert not is_our_monitor(other_home.pid, _started(other_home), home)
        write_run_files(home, {"pid": ours.pid, "process_start_time": start})
        assert monitor_status(home).state == "running"
        assert (tmp_path / "run" / "state.json").stat().st_mode & 0o777 == 0o600
        assert stop_monitor(home, timeout=5).outcome == "stopped"
        assert ours.wait(timeout=10) == -15
        assert not (tmp_path / "run" / "monitor.pid").exists()
    finally:
        for process in (ours, other_home):
            process.kill()
            process.wait()


def test_stale_pidfile_is_cleaned_without_signalling(tmp_path):
    home = GuardianHome(tmp_path)
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        write_run_files(home, {"pid": bystander.pid, "process_start_time": _started(bystander)})
        status = monitor_status(home)
        assert status.state == "stale" and status.pid == bystander.pid
        assert stop_monitor(home, timeout=1).outcome == "stale-cleaned"
        assert bystander.poll() is None
        assert monitor_status(home).state == "stopped"
    finally:
        bystander.kill()
        bystander.wait()


def test_state_without_pidfile_or_garbage_is_stale_not_running(tmp_path):
    home = GuardianHome(tmp_path)
    home.ensure_dir(home.run_dir)
    (tmp_path / "run" / "state.json").write_text(json.dumps({"pid": os.getpid()}))
    assert monitor_status(home).state == "stale"
    (tmp_path / "run" / "state.json").write_text("{not json")
    (tmp_path / "run" / "monitor.pid").write_text("garbage\n")
    assert monitor_status(home).state == "stopped"
