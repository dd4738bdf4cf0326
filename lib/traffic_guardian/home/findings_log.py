"""Reading the findings log: the live file and its rotated backups, oldest first.

Readers never trust the log to be clean: a monitor killed mid-write leaves a truncated
last line, a disk error or a hand edit leaves a corrupt one. Such lines are skipped and
counted (reader.skipped), never fatal. Reading is line by line with a bound on line
length, so memory stays constant however large the log grows.

Two ways to read:
- FindingsReader: one pass over a snapshot of the files. All files are opened before the
  first line is read, under a shared flock on the writers' lock file when it exists, so a
  rotation during the read cannot make us read a file twice or skip one.
- FindingsFollower: tail -f for findings. It survives rotation: when the live file's
  inode changes it drains the old file, reads any backups rotated in between, then
  continues on the new live file.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from traffic_guardian.detect.finding import SEVERITIES
from traffic_guardian.home.guardian_home import is_inside
from traffic_guardian.home.writer import log_files

# A finding line is a few hundred bytes (snippets are bounded by snippet_context_chars);
# a line past this bound is garbage, and skipping it in chunks keeps memory flat.
MAX_LINE_BYTES = 1024 * 1024
READ_CHUNK = 64 * 1024
FOLLOW_POLL_SECS = 0.2
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")  # finding.utc_timestamp's form


def lock_path_for(live: Path) -> Path:
    """The writers' flock target (same rule as writer.FindingWriter)."""
    live = Path(live)
    return live.with_name(f".{live.name}.lock")


def log_paths(live: Path) -> list[Path]:
    """Every retained file of the log, oldest first: findings.jsonl.N .. .1, findings.jsonl."""
    return log_files(Path(live))


def live_log_path(config, status=None) -> Path:
    """The log to read: the running monitor's (its state file names it), else the configured one.

    A monitor started with another config writes elsewhere than the current config says; the
    state file knows. A path there that lies outside the home is ignored, not followed.
    """
    info = getattr(status, "info", None) or {}
    recorded = info.get("findings_log")
    if getattr(status, "running", False) and isinstance(recorded, str) and recorded:
        path = Path(recorded)
        if path.is_absolute() and is_inside(path, config.home.root):
            return path
    return config.log_path


@dataclass
class SkipCounts:
    corrupt: int = 0  # not JSON, not an object, not UTF-8, or longer than MAX_LINE_BYTES
    truncated: int = 0  # a last line without its newline (a crash mid-write)

    @property
    def total(self) -> int:
        return self.corrupt + self.truncated

    def describe(self) -> str:
        """Human summary for stderr, e.g. '3 unreadable lines skipped (2 corrupt, 1 truncated)'."""
        noun = "line" if self.total == 1 else "lines"
        return f"{self.total} unreadable {noun} skipped ({self.corrupt} corrupt, {self.truncated} truncated)"


def parse_line(raw: bytes) -> dict | None:
    """One complete log line (without or with its newline) as a dict, or None when unusable."""
    try:
        record = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


class FindingsReader:
    """Iterate the findings of a list of files, oldest first; skipped lines are counted.

    digest: an optional hashlib object fed every byte read, in order, so one pass can both
    summarise the log and hash it (posture.py uses this for finding_log_sha256).
    After iteration, end_position is (inode, offset) of the last file read, so a follower
    can continue exactly where the snapshot stopped.
    """

    def __init__(self, paths: Iterable[Path] | Callable[[], list[Path]], lock_path: Path | None = None,
                 digest=None):
        # A callable lists the files under the writers' lock (see open_snapshot).
        self.paths = paths if callable(paths) else [Path(p) for p in paths]
        self.lock_path = lock_path
        self.digest = digest
        self.skips = SkipCounts()
        self.bytes_read = 0
        self.files_read = 0
        self.end_position: tuple[int, int] | None = None

    @property
    def skipped(self) -> int:
        return self.skips.total

    def __iter__(self) -> Iterator[dict]:
        handles = self._open_snapshot()
        try:
            for handle in handles:
                yield from self._read_file(handle)
                self.files_read += 1
                self.end_position = (os.fstat(handle.fileno()).st_ino, handle.tell())
        finally:
            for handle in handles:
                handle.close()

    def _open_snapshot(self) -> list:
        return open_snapshot(self.paths, self.lock_path)

    def _read_file(self, handle) -> Iterator[dict]:
        for raw, complete in read_lines(handle, self._account):
            record = parse_line(raw) if raw is not None else None
            if record is not None:
                yield record
            elif raw is not None and raw.strip() == b"":
                continue  # blank line: nothing was lost
            elif complete:
                self.skips.corrupt += 1
            else:
                self.skips.truncated += 1

    def _account(self, chunk: bytes) -> None:
        self.bytes_read += len(chunk)
        if self.digest is not None:
            self.digest.update(chunk)


def open_log_file(path: Path):
    """Open a log file for reading without following a symlink planted in its place."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    return os.fdopen(fd, "rb")


def read_lines(handle, account: Callable[[bytes], None] | None = None) -> Iterator[tuple[bytes | None, bool]]:
    """(line, complete) pairs from a binary handle, each line at most MAX_LINE_BYTES.

    complete is False for a last line without its newline. An oversized line is consumed
    in bounded chunks and reported as (None, True): corrupt, never held in memory whole.
    """
    while True:
        line = handle.readline(MAX_LINE_BYTES)
        if not line:
            return
        if account:
            account(line)
        if line.endswith(b"\n"):
            yield line, True
            continue
        if len(line) < MAX_LINE_BYTES:
            yield line, False  # end of file without a newline
            return
        # Oversized: skip to the end of this line in chunks.
        while True:
            rest = handle.readline(READ_CHUNK)
            if account and rest:
                account(rest)
            if not rest or rest.endswith(b"\n"):
                break
        yield None, True


def open_snapshot(paths: Iterable[Path] | Callable[[], list[Path]], lock_path: Path | None) -> list:
    """Open log files as one consistent snapshot, oldest first.

    Under a shared flock on the writers' lock file no rotation can run, so names cannot
    shift between listing and opening; paths may be a callable that lists them under the
    lock. The open descriptors keep their files whatever is renamed afterwards.
    """
    lock_fd = None
    if lock_path is not None:
        try:
            lock_fd = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
            fcntl.flock(lock_fd, fcntl.LOCK_SH)
        except OSError:
            if lock_fd is not None:
                os.close(lock_fd)
            lock_fd = None  # no writer ever ran here, or we cannot lock: read without it
    handles = []
    try:
        for path in paths() if callable(paths) else paths:
            try:
                handles.append(open_log_file(path))
            except FileNotFoundError:
                continue  # rotated away with backups=0 between listing and opening
    except BaseException:
        for handle in handles:
            handle.close()
        raise
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
    return handles


def read_findings(paths: Iterable[Path], lock_path: Path | None = None) -> FindingsReader:
    """Iterate findings from paths (oldest first); see FindingsReader.skipped afterwards."""
    return FindingsReader(paths, lock_path)


def read_log(live: Path, digest=None) -> FindingsReader:
    """A reader over the whole retained log whose live file is live (rotated files first)."""
    live = Path(live)
    return FindingsReader(lambda: log_paths(live), lock_path_for(live), digest)


class FindingsFollower:
    """Stream findings appended to the live log, surviving rotation, until stop is set.

    start: (inode, offset) to continue from (FindingsReader.end_position); None starts
    at the current end of the live file, like tail -f. Partial lines are held until their
    newline arrives; a partial line left behind by a rotation is counted as truncated.
    """

    def __init__(self, live: Path, start: tuple[int, int] | None = None, stop: threading.Event | None = None,
                 poll_secs: float = FOLLOW_POLL_SECS):
        self.live = Path(live)
        self.start = start
        self.stop = stop or threading.Event()
        self.poll_secs = poll_secs
        self.skips = SkipCounts()
        self._handle = None
        self._partial = b""
        self._partial_oversized = False

    @property
    def skipped(self) -> int:
        return self.skips.total

    def __iter__(self) -> Iterator[dict]:
        try:
            self._open_initial()
            while not self.stop.is_set():
                yield from self._drain()
                if self._rotated():
                    yield from self._drain()  # the old file cannot grow any more: finish it
                    self._finish_partial()
                    yield from self._catch_up_after_rotation()
                    continue
                self.stop.wait(self.poll_secs)
        finally:
            self.close()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _open_initial(self) -> None:
        try:
            handle = open_log_file(self.live)
        except FileNotFoundError:
            return  # not written yet: _rotated() notices when it appears
        info = os.fstat(handle.fileno())
        if self.start is None:
            offset = info.st_size
        elif self.start[0] == info.st_ino:
            offset = min(self.start[1], info.st_size)
        else:
            # The file the snapshot ended in was rotated before we got here: read what was
            # rotated in between from where the snapshot stopped, then the live file.
            handle.close()
            self._pending_rotated_from = self.start
            return
        handle.seek(offset)
        self._handle = handle

    _pending_rotated_from: tuple[int, int] | None = None

    def _drain(self) -> Iterator[dict]:
        if self._handle is None:
            return
        while True:
            chunk = self._handle.readline(MAX_LINE_BYTES)
            if not chunk:
                return
            if not chunk.endswith(b"\n"):
                self._hold(chunk)
                continue
            line = self._partial + chunk
            oversized = self._partial_oversized or len(line) > MAX_LINE_BYTES
            self._partial, self._partial_oversized = b"", False
            record = None if oversized else parse_line(line)
            if record is not None:
                yield record
            elif oversized or line.strip():
                self.skips.corrupt += 1

    def _hold(self, chunk: bytes) -> None:
        if self._partial_oversized:
            return
        if len(self._partial) + len(chunk) > MAX_LINE_BYTES:
            self._partial, self._partial_oversized = b"", True
        else:
            self._partial += chunk

    def _finish_partial(self) -> None:
        if self._partial or self._partial_oversized:
            if self._partial_oversized:
                self.skips.corrupt += 1
            elif self._partial.strip():
                self.skips.truncated += 1
        self._partial, self._partial_oversized = b"", False

    def _rotated(self) -> bool:
        """True when the live path now names another file than the one we read (or appeared)."""
        if self._pending_rotated_from is not None:
            return True
        try:
            live = os.stat(self.live, follow_symlinks=False)
        except FileNotFoundError:
            return False  # rotated with backups=0, or not created yet: wait for the new file
        if self._handle is None:
            return True
        ours = os.fstat(self._handle.fileno())
        if live.st_ino != ours.st_ino or ours.st_nlink == 0:
            return True
        if live.st_size < self._handle.tell():
            # Truncated in place (copytruncate by an outside tool): start over at 0.
            self._handle.seek(0)
            self._partial, self._partial_oversized = b"", False
        return False

    def _catch_up_after_rotation(self) -> Iterator[dict]:
        """Every file newer than ours, oldest first, then follow the live one.

        The retained files are opened as one snapshot under the writers' lock and matched
        by inode, so any number of rotations between two polls loses nothing that is still
        retained, and a rotation while we read cannot shift a name under us.
        """
        if self._pending_rotated_from is not None:
            ours, offset = self._pending_rotated_from
            self._pending_rotated_from = None
        elif self._handle is not None:
            ours, offset = os.fstat(self._handle.fileno()).st_ino, self._handle.tell()
        else:
            ours, offset = None, 0
        self.close()
        handles = open_snapshot(lambda: log_paths(self.live), lock_path_for(self.live))
        inodes = [os.fstat(handle.fileno()).st_ino for handle in handles]
        # Our file still retained: continue in it where we were; gone: every retained file is newer.
        first = inodes.index(ours) if ours in inodes else 0
        for handle in handles[:first]:
            handle.close()
        newer = handles[first:]
        if newer and inodes[first] == ours:
            newer[0].seek(offset)
        for handle in newer[:-1]:  # rotated files are complete: read each to its end
            self._handle = handle
            yield from self._drain()
            self._finish_partial()
            handle.close()
            self._handle = None
        if newer:
            self._handle = newer[-1]  # the live file at snapshot time: follow it


@dataclass
class FindingsSummary:
    """Counts a status line or posture profile needs, accumulated in one pass."""

    total: int = 0
    suppressed: int = 0
    by_severity: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEVERITIES, 0))
    by_type: dict[str, int] = field(default_factory=dict)
    by_pattern: dict[str, int] = field(default_factory=dict)
    first_finding_at: str | None = None
    last_finding_at: str | None = None
    # scan_incomplete findings: messages cut (each written one, plus its dedup repeats) and the
    # bytes left unscanned where the size was known
    messages_cut: int = 0
    bytes_unscanned: int = 0

    def add(self, finding: dict) -> None:
        self.total += 1
        if finding.get("pattern") == "scan_incomplete":
            repeats = finding.get("suppressed")
            self.messages_cut += 1 + (repeats if isinstance(repeats, int) and repeats > 0 else 0)
            total, scanned = finding.get("bytes_total"), finding.get("bytes_scanned")
            if isinstance(total, int) and isinstance(scanned, int) and total > scanned:
                self.bytes_unscanned += total - scanned
        suppressed = finding.get("suppressed")
        if isinstance(suppressed, int) and not isinstance(suppressed, bool) and suppressed > 0:
            self.suppressed += suppressed
        severity = finding.get("severity")
        if isinstance(severity, str):
            self.by_severity[severity] = self.by_severity.get(severity, 0) + 1
        threat_type = finding.get("threat_type")
        if isinstance(threat_type, str):
            self.by_type[threat_type] = self.by_type.get(threat_type, 0) + 1
        pattern = finding.get("pattern")
        if isinstance(pattern, str):
            self.by_pattern[pattern] = self.by_pattern.get(pattern, 0) + 1
        timestamp = finding.get("timestamp")
        if isinstance(timestamp, str) and _TIMESTAMP.fullmatch(timestamp):
            # Fixed-width UTC timestamps (SPEC section 8) order correctly as strings.
            if self.last_finding_at is None or timestamp > self.last_finding_at:
                self.last_finding_at = timestamp
            if self.first_finding_at is None or timestamp < self.first_finding_at:
                self.first_finding_at = timestamp


def summarize(findings: Iterable[dict]) -> FindingsSummary:
    summary = FindingsSummary()
    for finding in findings:
        summary.add(finding)
    return summary
