"""findings_log: reading the live log and its rotated backups, oldest first, never crashing on
a bad line, in constant memory; and following the log across rotation."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import tracemalloc
from collections import deque

from log_fixtures import compact_line, ids, log_bytes, spread_findings, write_findings, writer_for
from traffic_guardian.home.findings_log import (
    MAX_LINE_BYTES,
    FindingsFollower,
    FindingsReader,
    lock_path_for,
    log_paths,
    read_findings,
    read_log,
    summarize,
)
from traffic_guardian.report.finding_filter import FindingFilter

# -- reading a snapshot ---------------------------------------------------------------------


def test_reads_rotated_files_oldest_first_then_the_live_file(tmp_path):
    findings = spread_findings(600)
    live = write_findings(tmp_path, findings, max_bytes=64 * 1024)
    assert len(log_paths(live)) > 2, "the fixture must rotate to prove ordering across files"
    reader = read_log(live)
    assert ids(reader) == [f.finding_id for f in findings]
    assert reader.skipped == 0
    assert reader.files_read == len(log_paths(live))


def test_read_findings_takes_explicit_paths_and_exposes_the_skip_count(tmp_path):
    live = write_findings(tmp_path, spread_findings(5))
    with open(live, "ab") as handle:
        handle.write(b"not json\n")
    reader = read_findings([live])
    assert len(list(reader)) == 5
    assert reader.skipped == 1


def test_a_corrupt_line_is_skipped_and_counted_and_reading_goes_on(tmp_path):
    findings = spread_findings(4)
    live = write_findings(tmp_path, findings[:2])
    with open(live, "ab") as handle:
        handle.write(b'{"severity": "high", "broken\n')  # cut JSON
        handle.write(b"\xff\xfe not utf-8\n")
        handle.write(b"[1, 2, 3]\n")  # JSON but not an object
        handle.write(b"\n")  # blank: nothing lost, not counted
    write_findings(tmp_path, findings[2:])
    reader = read_log(live)
    assert ids(reader) == ids(f.to_dict() for f in findings)
    assert (reader.skips.corrupt, reader.skips.truncated) == (3, 0)
    assert reader.skips.describe() == "3 unreadable lines skipped (3 corrupt, 0 truncated)"


def test_a_truncated_last_line_from_a_crash_mid_write_is_counted_as_truncated(tmp_path):
    findings = spread_findings(3)
    live = write_findings(tmp_path, findings)
    whole = findings[0].to_json()
    with open(live, "ab") as handle:
        handle.write(whole[: len(whole) // 2].encode())  # no newline: the writer died here
    reader = read_log(live)
    assert len(list(reader)) == 3
    assert (reader.skips.corrupt, reader.skips.truncated) == (0, 1)


def test_an_oversized_line_is_skipped_without_holding_it_in_memory(tmp_path):
    live = write_findings(tmp_path, spread_findings(2))
    with open(live, "ab") as handle:
        handle.write(b"x" * (MAX_LINE_BYTES * 8) + b"\n")
    write_findings(tmp_path, spread_findings(1))
    tracemalloc.start()
    try:
        reader = read_log(live)
        count = sum(1 for _ in reader)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 3
    assert reader.skips.corrupt == 1
    # Bounded by a couple of MAX_LINE_BYTES buffers, far below the 8 MiB line.
    assert peak < MAX_LINE_BYTES * 4, f"peak {peak} bytes: the oversized line was held whole"


def test_digest_covers_every_byte_of_every_file_in_order(tmp_path):
    live = write_findings(tmp_path, spread_findings(400))
    with open(live, "ab") as handle:
        handle.write(b"garbage\n{\"truncated")
    digest = hashlib.sha256()
    reader = read_log(live, digest)
    list(reader)
    stream = log_bytes(live)
    assert digest.hexdigest() == hashlib.sha256(stream).hexdigest()
    assert reader.bytes_read == len(stream)


def test_missing_log_reads_as_empty(tmp_path):
    reader = read_log(tmp_path / "logs" / "findings.jsonl")
    assert list(reader) == []
    assert reader.skipped == 0 and reader.end_position is None


def test_snapshot_is_consistent_when_rotation_happens_during_the_read(tmp_path):
    """Files are opened together before reading, so a rotation mid-read neither repeats nor drops."""
    first = spread_findings(400)
    live = write_findings(tmp_path, first, max_bytes=64 * 1024, backups=50)
    reader = read_log(live)
    iterator = iter(reader)
    seen = [next(iterator)["finding_id"]]
    more = spread_findings(300)
    write_findings(tmp_path, more, max_bytes=64 * 1024, backups=50)  # rotates while we read
    seen += [f["finding_id"] for f in iterator]
    # Every snapshot file is read to its end, so lines appended to the open live file before
    # it rotated are included: the result is all of first and then a prefix of more.
    everything = [f.finding_id for f in first + more]
    assert len(seen) >= len(first)
    assert seen == everything[: len(seen)]


def test_reader_takes_a_shared_lock_on_the_writers_lock_file(tmp_path):
    live = write_findings(tmp_path, spread_findings(3))
    assert lock_path_for(live).exists()
    assert len(list(FindingsReader([live], lock_path_for(live)))) == 3


def test_reader_refuses_to_follow_a_symlink_planted_as_a_log_file(tmp_path):
    live = write_findings(tmp_path, spread_findings(3))
    outside = tmp_path / "outside.jsonl"
    outside.write_text(json.dumps({"finding_id": "planted"}) + "\n")
    rotated = live.with_name("findings.jsonl.1")
    rotated.symlink_to(outside)
    try:
        reader = read_log(live)
        got = ids(reader)
    except OSError:
        got = []
    assert "planted" not in got


def test_summary_counts_severity_type_pattern_and_last_finding(tmp_path):
    findings = spread_findings(21)
    summary = summarize(f.to_dict() for f in findings)
    assert summary.total == 21
    assert summary.by_severity["critical"] == 6 and summary.by_severity["info"] == 3
    assert summary.by_type == {"EXFIL": 12, "INJECTION": 6, "POLICY": 3}
    assert summary.by_pattern["ai_api_key"] == 3
    assert summary.suppressed == 2 * 5  # indices 0, 5, 10, 15, 20 carry suppressed=2
    assert summary.last_finding_at == findings[-1].timestamp
    assert summary.first_finding_at == findings[0].timestamp


# -- constant memory --------------------------------------------------------------------------


def _peak_reading(live, last_n: int = 10) -> tuple[int, int]:
    selection = FindingFilter.build(severity="high")
    tracemalloc.start()
    try:
        reader = read_log(live)
        kept = deque((f for f in reader if selection.matches(f)), maxlen=last_n)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, len(kept)


def test_reader_memory_does_not_grow_with_the_log(tmp_path):
    """Peak traced memory reading 50,000 lines stays within a small constant of reading 1,000.

    (tracemalloc makes every allocation slow, so the million-line run measures peak RSS of
    query.py instead: test/scripts/test_query.py.)
    """
    line = compact_line()
    small = tmp_path / "small" / "findings.jsonl"
    large = tmp_path / "large" / "findings.jsonl"
    for path, count in ((small, 1000), (large, 50_000)):
        path.parent.mkdir()
        with open(path, "wb") as handle:
            for _ in range(count // 1000):
                handle.write(line * 1000)
    started = time.monotonic()
    small_peak, _ = _peak_reading(small)
    large_peak, kept = _peak_reading(large)
    assert kept == 10
    assert large_peak < small_peak + 64 * 1024, f"50k lines peaked at {large_peak} B vs {small_peak} B for 1k"
    assert time.monotonic() - started < 120, "reading must not hang"


# -- following --------------------------------------------------------------------------------


class ScriptedPolls:
    """Stands in for the follower's stop event: each poll pause runs the next scripted step,
    so "what happens between two polls" is exact instead of a race against a timer."""

    def __init__(self, steps):
        self.steps = iter(steps)
        self.stopped = False

    def is_set(self) -> bool:
        return self.stopped

    def wait(self, _timeout=None) -> bool:
        step = next(self.steps, None)
        if step is None:
            self.stopped = True
        else:
            step()
        return self.stopped


def _follow(live, steps, start=None):
    follower = FindingsFollower(live, start=start, stop=ScriptedPolls(steps))
    return follower, [f["finding_id"] for f in follower]


def test_follow_from_the_end_streams_only_new_findings(tmp_path):
    old = spread_findings(5)
    live = write_findings(tmp_path, old)
    new = spread_findings(4)
    follower, got = _follow(live, [lambda: write_findings(tmp_path, new[:2]),
                                   lambda: write_findings(tmp_path, new[2:])])
    assert got == [f.finding_id for f in new]
    assert follower.skipped == 0


def test_follow_survives_rotation_including_several_rotations_between_two_polls(tmp_path):
    live = write_findings(tmp_path, spread_findings(3), max_bytes=64 * 1024, backups=50)
    batches = [spread_findings(10), spread_findings(500), spread_findings(20)]  # 500 lines rotate ~3 times

    def write(batch):
        return lambda: write_findings(tmp_path, batch, max_bytes=64 * 1024, backups=50)

    rotated_before = len(log_paths(live))
    follower, got = _follow(live, [write(b) for b in batches])
    assert len(log_paths(live)) - rotated_before >= 2, "the fixture must rotate more than once in one poll"
    assert got == [f.finding_id for batch in batches for f in batch]
    assert follower.skipped == 0


def test_follow_waits_for_a_partial_line_to_be_completed(tmp_path):
    live = write_findings(tmp_path, spread_findings(1))
    line = (spread_findings(1)[0].to_json() + "\n").encode()

    def append(data):
        def step():
            with open(live, "ab") as handle:
                handle.write(data)
        return step

    follower, got = _follow(live, [append(line[:30]), append(line[30:])])
    assert got == [json.loads(line)["finding_id"]]
    assert follower.skipped == 0


def test_follow_counts_a_partial_line_left_behind_by_rotation_as_truncated(tmp_path):
    live = write_findings(tmp_path, spread_findings(1), max_bytes=64 * 1024, backups=5)
    after = spread_findings(2)

    def crash_mid_line():
        with open(live, "ab") as handle:
            handle.write(b'{"finding_id": "cut')

    def rotate_and_write():
        os.replace(live, live.with_name("findings.jsonl.1"))
        write_findings(tmp_path, after, max_bytes=64 * 1024, backups=5)

    follower, got = _follow(live, [crash_mid_line, rotate_and_write])
    assert got == [f.finding_id for f in after]
    assert (follower.skips.corrupt, follower.skips.truncated) == (0, 1)


def test_follow_with_backups_zero_reads_the_recreated_live_file(tmp_path):
    live = write_findings(tmp_path, spread_findings(1), max_bytes=64 * 1024, backups=0)
    batch = spread_findings(300)  # past 64 KiB: the live file is deleted and recreated
    follower, got = _follow(live, [lambda: write_findings(tmp_path, batch, max_bytes=64 * 1024, backups=0)])
    # With no backups a file rotated away between two polls is gone; what is read is in order,
    # without repeats, and reaches the newest finding.
    position = {finding.finding_id: index for index, finding in enumerate(batch)}
    indices = [position[finding_id] for finding_id in got]
    assert indices == sorted(set(indices))
    assert indices[-1] == len(batch) - 1


def test_history_then_follow_has_no_gap_and_no_repeat_even_across_a_rotation(tmp_path):
    first = spread_findings(50)
    live = write_findings(tmp_path, first, max_bytes=64 * 1024, backups=50)
    reader = read_log(live)
    history = ids(reader)
    gap = spread_findings(400)  # written after the history pass, before following starts; rotates
    write_findings(tmp_path, gap, max_bytes=64 * 1024, backups=50)
    later = spread_findings(5)
    _follower, followed = _follow(live, [lambda: write_findings(tmp_path, later, max_bytes=64 * 1024,
                                                                backups=50)], start=reader.end_position)
    assert history + followed == [f.finding_id for f in first + gap + later]


def test_follow_starts_on_a_log_that_does_not_exist_yet(tmp_path):
    live = tmp_path / "logs" / "findings.jsonl"
    batch = spread_findings(3)
    _follower, got = _follow(live, [lambda: None, lambda: write_findings(tmp_path, batch)], start=(-1, 0))
    assert got == [f.finding_id for f in batch]


def test_follow_stops_promptly_when_the_stop_event_is_set(tmp_path):
    live = write_findings(tmp_path, spread_findings(1))
    stop = threading.Event()
    got = []
    follower = FindingsFollower(live, start=(os.stat(live).st_ino, os.stat(live).st_size), stop=stop,
                                poll_secs=0.05)
    thread = threading.Thread(target=lambda: got.extend(follower), daemon=True)
    thread.start()
    writer = writer_for(tmp_path)
    batch = spread_findings(3)
    for finding in batch:
        writer.write(finding)
    writer.close()
    deadline = time.monotonic() + 10
    while len(got) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert [f["finding_id"] for f in got] == [f.finding_id for f in batch]


def test_follow_loses_nothing_when_rotations_race_its_catch_up(tmp_path):
    """A writer rotating as fast as it can while the follower polls slowly: names shift
    under the follower between listing and opening, yet every finding arrives, in order."""
    live = write_findings(tmp_path, spread_findings(3), max_bytes=64 * 1024, backups=100)
    new = spread_findings(3000)  # about 25 rotations of 64 KiB
    stop = threading.Event()
    here = os.stat(live)  # start where the log ends now, before the writer runs
    follower = FindingsFollower(live, start=(here.st_ino, here.st_size), stop=stop, poll_secs=0.001)
    got: list[str] = []

    def write_all():
        writer = writer_for(tmp_path, max_bytes=64 * 1024, backups=100)
        for finding in new:
            writer.write(finding)
        writer.close()

    writer_thread = threading.Thread(target=write_all)
    give_up = threading.Timer(60, stop.set)  # a hang guard: a stalled follower ends the test
    writer_thread.start()
    give_up.start()
    try:
        for record in follower:
            got.append(record["finding_id"])
            if len(got) == len(new):
                stop.set()
    finally:
        give_up.cancel()
        writer_thread.join(timeout=60)
    assert got == [f.finding_id for f in new]
