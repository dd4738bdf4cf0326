"""FindingWriter (SPEC.md section 8): whole lines with concurrent threads and processes, rotation
that loses nothing with dedup off, dedup with the suppressed count carried forward, 0600 files,
0700 directories, and no write through a symlink.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import threading
from pathlib import Path

import pytest

from traffic_guardian.detect.finding import Finding
from traffic_guardian.home.findings_log import read_log
from traffic_guardian.home.guardian_home import GuardianHome, HomeError
from traffic_guardian.home.writer import FindingWriter, log_files


def finding(index: int = 0, pattern: str = "ai_api_key", location: str = "request.body", pad: int = 0) -> Finding:
    return Finding(direction="outbound", protocol="https", threat_type="EXFIL", pattern=pattern, variant="openai",
                   severity="high", source="127.0.0.1:1", dest="collector.example:443", location=location,
                   snippet=f"n={index} " + "x" * pad, description="test", flow_id=f"f{index}")


def writer_for(home_root: Path, max_bytes: int = 1 << 30, backups: int = 5, window: int = 0, clock=None):
    home = GuardianHome(home_root)
    kwargs = {"clock": clock} if clock else {}
    return FindingWriter(home, home_root / "logs" / "findings.jsonl", max_bytes, backups, window, **kwargs)


def all_lines(path: Path, backups: int = 100) -> list[dict]:
    lines = []
    for file in log_files(path, backups):
        data = file.read_bytes()
        assert data == b"" or data.endswith(b"\n"), f"{file} ends mid-line"
        lines += [json.loads(line) for line in data.splitlines()]
    return lines


def test_threads_write_whole_lines_only(tmp_path):
    writer = writer_for(tmp_path / "home")
    threads = [threading.Thread(target=lambda t=t: [writer.write(finding(t * 1000 + i, pad=3000))
                                                     for i in range(100)]) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    lines = all_lines(writer.path)
    assert sorted(int(line["snippet"].split()[0][2:]) for line in lines) == sorted(
        t * 1000 + i for t in range(8) for i in range(100))


def _process_writer(home_root: str, worker: int, count: int, max_bytes: int) -> None:
    writer = writer_for(Path(home_root), max_bytes=max_bytes, backups=100)
    for i in range(count):
        writer.write(finding(worker * 10000 + i, pad=1500))
    writer.close()


@pytest.mark.parametrize("max_bytes", [1 << 30, 64 * 1024], ids=["no-rotation", "rotating"])
def test_processes_write_whole_lines_and_rotation_loses_none(tmp_path, max_bytes):
    home_root = tmp_path / "home"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_process_writer, args=(str(home_root), w, 150, max_bytes)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
        assert process.exitcode == 0
    lines = all_lines(home_root / "logs" / "findings.jsonl")
    assert len(lines) == 600
    assert len({line["finding_id"] for line in lines}) == 600
    if max_bytes < 1 << 30:
        assert len(log_files(home_root / "logs" / "findings.jsonl")) > 2


def test_rotation_shifts_files_and_keeps_at_most_backups(tmp_path):
    writer = writer_for(tmp_path / "home", max_bytes=64 * 1024, backups=3)
    for i in range(200):
        writer.write(finding(i, pad=2000))
    writer.close()
    files = log_files(writer.path)
    assert [f.name for f in files] == ["findings.jsonl.3", "findings.jsonl.2", "findings.jsonl.1", "findings.jsonl"]
    assert all(f.stat().st_size <= 64 * 1024 for f in files)
    numbers = [int(line["snippet"].split()[0][2:]) for line in all_lines(writer.path)]
    assert numbers == sorted(numbers) and numbers[-1] == 199  # oldest dropped, order kept, newest last


def test_rotation_with_no_backups_starts_a_fresh_live_file(tmp_path):
    writer = writer_for(tmp_path / "home", max_bytes=64 * 1024, backups=0)
    for i in range(100):
        writer.write(finding(i, pad=2000))
    writer.close()
    assert [f.name for f in log_files(writer.path)] == ["findings.jsonl"]


def test_dedup_suppresses_repeats_within_the_window_and_carries_the_count(tmp_path):
    now = [1000.0]
    writer = writer_for(tmp_path / "home", window=60, clock=lambda: now[0])
    assert writer.write(finding(1)) is True
    assert [writer.write(finding(i)) for i in range(2, 6)] == [False] * 4
    assert writer.write(finding(6, location="request.url")) is True  # another location is another key
    now[0] += 61
    assert writer.write(finding(7)) is True
    writer.close()
    lines = all_lines(writer.path)
    assert [(line["location"], line["suppressed"]) for line in lines] == [
        ("request.body", 0), ("request.url", 0), ("request.body", 4)]
    assert writer.suppressed_total == 4


def test_dedup_window_zero_writes_every_finding(tmp_path):
    writer = writer_for(tmp_path / "home", window=0)
    assert all(writer.write(finding(i)) for i in range(20))
    writer.close()
    assert len(all_lines(writer.path)) == 20


def test_files_are_0600_and_directories_0700(tmp_path):
    old_umask = os.umask(0)
    try:
        writer = writer_for(tmp_path / "home", max_bytes=64 * 1024, backups=2)
        for i in range(80):
            writer.write(finding(i, pad=2000))
        writer.close()
    finally:
        os.umask(old_umask)
    home = tmp_path / "home"
    for directory in (home, home / "logs"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for file in (home / "logs").iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


def test_symlink_at_the_log_path_is_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    home = GuardianHome(tmp_path / "home")
    home.ensure_dir(home.root / "logs")
    (home.root / "logs" / "findings.jsonl").symlink_to(victim)
    writer = writer_for(home.root)
    with pytest.raises(HomeError, match="symlink"):
        writer.write(finding(1))
    assert victim.read_text() == "keep me\n"


def test_symlinked_log_directory_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = GuardianHome(tmp_path / "home")
    home.ensure_dir()
    (home.root / "logs").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(HomeError):
        writer_for(home.root).write(finding(1))
    assert list(elsewhere.iterdir()) == []


def _killed_mid_line(home_root: str) -> None:
    """A writer whose process dies inside its one write(): only half the line reaches the file."""
    writer = writer_for(Path(home_root))

    def half_then_die(fd, data):
        os.write_real(fd, bytes(data[: len(data) // 2]))
        os.kill(os.getpid(), 9)

    os.write_real, os.write = os.write, half_then_die
    writer.write(finding(1))


def test_a_writer_killed_mid_line_does_not_swallow_the_next_finding(tmp_path):
    home_root = tmp_path / "home"
    writer_for(home_root).write(finding(0))
    killed = multiprocessing.get_context("spawn").Process(target=_killed_mid_line, args=(str(home_root),))
    killed.start()
    killed.join(timeout=60)
    assert killed.exitcode == -9
    live = home_root / "logs" / "findings.jsonl"
    assert not live.read_bytes().endswith(b"\n")  # the partial line is there, as a crash leaves it

    writer_for(home_root).write(finding(2))

    reader = read_log(live)
    snippets = [line["snippet"] for line in reader]
    assert snippets == ["n=0 ", "n=2 "]
    assert reader.skipped == 1  # the partial line, counted as corrupt, never glued to the next
