"""Faults: crashes, full and read-only disks, a vanished home, concurrent writers, rotation.

- kill -9 of a writer (and of the live monitor) during heavy logging leaves a log that
  query.py reads: at most the last line is lost, and it is skipped and counted;
- a full disk (a small tmpfs) or a read-only home keeps the proxy forwarding, and status.py
  reports the write failure; a write cut short by a full disk leaves no partial line;
- the home removed while the monitor runs is recreated (logs, counters, run files), never a crash;
- two processes writing the same log concurrently, with rotation, lose and tear nothing;
- rotation under load through the live monitor loses no finding (dedup off).

tmpfs mounts need root (CAP_SYS_ADMIN); without it those tests skip and say so.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from monitor_fixtures import live_monitor_fixture, stop_monitor, upstream_fixture  # noqa: F401 - fixtures

import fakes
from canary import assert_no_leak
from conftest import BUNDLE, run_script
from processes import children_of

LIB = BUNDLE / "lib"

# A separate process that logs findings as fast as it can through FindingWriter (dedup off),
# optionally rotating; prints "ready" after its first line so the parent can kill it mid-run.
WRITER = r'''
import sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from traffic_guardian.detect.finding import Finding
from traffic_guardian.home.guardian_home import GuardianHome
from traffic_guardian.home.writer import FindingWriter
home, count, max_bytes, name = GuardianHome(Path(sys.argv[2])), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
writer = FindingWriter(home, home.root / "logs" / "findings.jsonl", max_bytes, 100, 0)
index = 0
while count == 0 or index < count:
    writer.write(Finding(direction="outbound", protocol="http", threat_type="EXFIL", pattern="github_token",
                         variant="classic", severity="high", source="127.0.0.1:1", dest="x.example:443",
                         location="request.body", snippet="[REDACTED github_token ghp_ len=40 fp=000000000000] "
                         + "s" * (index % 300), description="heavy logging", flow_id=f"{name}-{index}"))
    index += 1
    if index == 1:
        print("ready", flush=True)
'''


def writer_process(home: Path, count: int, max_bytes: int = 1 << 30, name: str = "w") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(LIB), str(home), str(count), str(max_bytes), name],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def query_log(env: dict, log_dir: Path) -> tuple[list[dict], str]:
    result = run_script("query.py", "--log-dir", str(log_dir), env=env)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr.decode()


def complete_lines(log_dir: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in log_dir.glob("findings.jsonl*"))


@contextlib.contextmanager
def tmpfs(path: Path, size: str, read_only: bool = False):
    """A tmpfs at path (created 0700); skips the test with the reason when mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    options = f"size={size},mode=0700" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs at {path} (needs root with CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def secret_post(monitor, upstream, index: int = 0) -> int:
    """One POST with a fresh fake token in the body: exactly one github_token finding."""
    key = fakes.github_token()
    monitor.planted.append(key)
    status, _ = monitor.request("POST", f"{upstream.base}/upload/{index}", body=f"note={key}".encode(),
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    return status


# -- kill -9 ------------------------------------------------------------------------------


def test_kill_9_of_a_writer_during_heavy_logging_loses_at_most_the_last_line(guardian_env, guardian_home):
    log_dir = guardian_home / "logs"
    for round_ in range(3):  # three crashes into the same log: each may cost its own last line only
        writer = writer_process(guardian_home, 0, name=f"r{round_}")
        assert writer.stdout.readline() == b"ready\n"
        time.sleep(0.3)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
    findings, stderr = query_log(guardian_env, log_dir)
    lines = complete_lines(log_dir)
    assert len(findings) >= lines - 3 and len(findings) > 100
    tail = (log_dir / "findings.jsonl").read_bytes()[-1:]
    if tail != b"\n":
        assert "1 truncated" in stderr
    # A kill mid-line leaves a partial line; the next round's writer ends it (so its own first
    # line stays whole) and query reads it as one corrupt line: each crash costs at most its
    # own last line, whichever way it is counted.
    unreadable = re.search(r"(\d+) corrupt, (\d+) truncated", stderr)
    corrupt, truncated = (int(unreadable.group(1)), int(unreadable.group(2))) if unreadable else (0, 0)
    assert corrupt + truncated <= 3 and corrupt <= 2


@pytest.mark.e2e
def test_kill_9_of_the_live_monitor_during_heavy_logging(live_monitor, upstream):
    monitor = live_monitor({"dedup_window_secs": 0})
    stop = False

    def hammer(worker: int) -> int:
        attempts = 0  # a request the monitor logged may still lose its answer to the kill
        while not stop:
            attempts += 1
            with contextlib.suppress(OSError, http.client.HTTPException):
                secret_post(monitor, upstream, worker)
        return attempts

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(hammer, worker) for worker in range(6)]
        monitor.wait_counters(lambda c: c.get("findings_written", 0) >= 30, timeout=60)
        proxy = monitor.proxy_pid
        scanners = children_of(proxy)
        assert scanners, "the monitor scans in a child process (config scan_process)"
        os.kill(monitor.pid, signal.SIGKILL)  # the monitor this test started: its supervisor,
        os.kill(proxy, signal.SIGKILL)  # and its proxy, before the supervisor's death can stop it gently
        deadline = time.monotonic() + 10
        while monitor.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        stop = True
        attempts = sum(future.result() for future in futures)
    findings, stderr = query_log(monitor.env, monitor.home / "logs")
    assert len(findings) >= 30 and len(findings) <= attempts
    assert len(findings) >= complete_lines(monitor.home / "logs") - 1
    assert "corrupt" not in stderr or "0 corrupt" in stderr
    assert monitor.status()["state"] == "stale"
    assert json.loads(monitor.script("stop.py").stdout)["outcome"] == "stale-cleaned"
    deadline = time.monotonic() + 10  # its scanner sees its input close and exits too
    while any(running(pid) for pid in scanners) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in scanners if running(pid)], "the scanner outlived its monitor"


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for whoever inherited it to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.e2e
def test_a_killed_scanner_process_is_replaced_and_scanning_goes_on(live_monitor, upstream):
    monitor = live_monitor({"dedup_window_secs": 0})
    assert secret_post(monitor, upstream, 0) == 200
    monitor.wait_counters(lambda c: c.get("findings_written") == 1)
    [scanner] = children_of(monitor.proxy_pid)
    os.kill(scanner, signal.SIGKILL)  # the scanner of the monitor this test started
    for index in range(1, 6):
        assert secret_post(monitor, upstream, index) == 200
    counters = monitor.wait_counters(lambda c: c.get("findings_written") == 6)
    assert counters["findings_written"] == 6, "no exchange is lost with its scanner"
    assert counters["addon_errors"] >= 1 and "scanner" in counters["last_addon_error"]
    assert [child for child in children_of(monitor.proxy_pid) if child != scanner], "a new scanner runs"
    status = monitor.status()
    assert status["addon_errors"] >= 1 and "restarted" in status["last_addon_error"]


# -- full disk, read-only home --------------------------------------------------------------


@pytest.mark.e2e
def test_full_disk_keeps_forwarding_reports_the_failure_and_tears_no_line(live_monitor, upstream, guardian_home):
    with tmpfs(guardian_home / "logs", "512k"):
        monitor = live_monitor({"dedup_window_secs": 0})
        assert secret_post(monitor, upstream) == 200
        monitor.wait_counters(lambda c: c.get("findings_written") == 1)
        filler = guardian_home / "logs" / "filler"
        with open(filler, "wb", buffering=0) as handle, contextlib.suppress(OSError):
            while True:  # fill the disk to the last byte
                handle.write(b"\0" * 4096)
        with open(filler, "ab", buffering=0) as handle, contextlib.suppress(OSError):
            for _ in range(4096):
                handle.write(b"\0")
        # (the first few may still fit in the slack of the log's last tmpfs page)
        for index in range(30):
            assert secret_post(monitor, upstream, index) == 200  # forwarding goes on
        monitor.assert_serves(upstream, "on a full disk")
        counters = monitor.wait_counters(lambda c: c.get("write_errors", 0) >= 10)
        assert counters["write_errors"] >= 10 and "No space left" in counters["last_write_error"]
        written = counters["findings_written"]
        status = monitor.status()
        assert status["write_errors"] >= 10 and "No space left" in status["last_write_error"]
        human = monitor.script("status.py")
        assert b"write errors" in human.stdout

        filler.unlink()  # space again: findings are logged again, and nothing torn sits before them
        assert secret_post(monitor, upstream, 99) == 200
        monitor.wait_counters(lambda c: c.get("findings_written") == written + 1)
        findings, stderr = query_log(monitor.env, guardian_home / "logs")
        assert len(findings) == written + 1 and "skipped" not in stderr
        monitor.assert_serves(upstream, "after the disk had space again")
        stop_monitor(monitor)  # before the tmpfs goes away under it
        assert_no_leak(monitor.planted, guardian_home, monitor.outputs)  # while the log is still there


@pytest.mark.e2e
def test_read_only_home_keeps_forwarding_and_status_reports_it(live_monitor, upstream, guardian_home, tmp_path):
    monitor = live_monitor({"dedup_window_secs": 0})
    assert secret_post(monitor, upstream) == 200
    monitor.wait_counters(lambda c: c.get("findings_written") == 1)
    # A read-only copy of the home mounted over it: every write the monitor tries now fails.
    with tmpfs(tmp_path / "ro-home", "8m") as staging:
        subprocess.run(["cp", "-a", f"{guardian_home}/.", str(staging)], check=True)
        remounted = subprocess.run(["mount", "-o", "remount,ro", str(staging)], capture_output=True, text=True)
        assert remounted.returncode == 0, remounted.stderr
        bound = subprocess.run(["mount", "--bind", str(staging), str(guardian_home)], capture_output=True,
                               text=True)
        assert bound.returncode == 0, bound.stderr
        try:
            for index in range(3):
                assert secret_post(monitor, upstream, index) == 200
            monitor.assert_serves(upstream, "with a read-only home")
            status = monitor.status()
            assert status["state"] == "running"
            assert "not writable" in (status.get("storage_problem") or ""), status
            assert b"not writable" in monitor.script("status.py").stdout
        finally:
            subprocess.run(["umount", "-l", str(guardian_home)], capture_output=True)
    assert monitor.status().get("storage_problem") is None
    assert secret_post(monitor, upstream, 7) == 200
    monitor.wait_counters(lambda c: c.get("findings_written", 0) >= 2)
    assert monitor.alive()


# -- the home removed while running -------------------------------------------------------------


@pytest.mark.e2e
def test_home_removed_while_running_is_recreated(live_monitor, upstream, guardian_home):
    monitor = live_monitor({"dedup_window_secs": 0})
    assert secret_post(monitor, upstream) == 200
    monitor.wait_counters(lambda c: c.get("findings_written") == 1)
    shutil.rmtree(guardian_home)
    assert secret_post(monitor, upstream, 1) == 200
    monitor.assert_serves(upstream, "after its home was removed")
    deadline = time.monotonic() + 15
    while not (guardian_home / "run" / "state.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    findings, _ = query_log(monitor.env, guardian_home / "logs")
    assert len(findings) == 1  # the finding after the removal, in a recreated log
    status = monitor.status()
    assert status["state"] == "running" and status["pid"] == monitor.pid
    for directory, names in ((guardian_home, []), (guardian_home / "logs", ["findings.jsonl"]),
                             (guardian_home / "run", ["state.json", "monitor.pid", "counters.json"])):
        assert directory.stat().st_mode & 0o777 == 0o700
        for name in names:
            assert (directory / name).stat().st_mode & 0o777 == 0o600
    assert json.loads(monitor.script("stop.py").stdout)["outcome"] == "stopped"


# -- concurrent writers and rotation --------------------------------------------------------


def test_two_processes_writing_and_rotating_one_log_lose_and_tear_nothing(guardian_env, guardian_home):
    per_writer = 3000
    writers = [writer_process(guardian_home, per_writer, max_bytes=65536, name=name) for name in ("a", "b")]
    for writer in writers:
        _, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr
    log_dir = guardian_home / "logs"
    assert len(list(log_dir.glob("findings.jsonl.*"))) > 5  # rotated many times while both wrote
    findings, stderr = query_log(guardian_env, log_dir)
    assert "skipped" not in stderr
    assert len(findings) == 2 * per_writer
    assert len({finding["finding_id"] for finding in findings}) == 2 * per_writer
    for name in ("a", "b"):  # each writer's own findings in its own order
        mine = [int(f["flow_id"][2:]) for f in findings if f["flow_id"].startswith(f"{name}-")]
        assert mine == list(range(per_writer))


@pytest.mark.e2e
def test_rotation_under_load_through_the_monitor_loses_no_finding(live_monitor, upstream):
    monitor = live_monitor({"dedup_window_secs": 0, "log_max_bytes": 65536, "log_backups": 100})
    requests = 400
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda index: secret_post(monitor, upstream, index), range(requests)))
    assert statuses == [200] * requests
    counters = monitor.wait_counters(lambda c: c.get("findings_written") == requests, timeout=30)
    assert counters["findings_written"] == requests and counters["write_errors"] == 0
    assert len(list((monitor.home / "logs").glob("findings.jsonl.*"))) >= 2
    findings = [f for f in monitor.findings() if f["pattern"] == "github_token"]
    assert len(findings) == requests
    assert len({f["flow_id"] for f in findings}) == requests
