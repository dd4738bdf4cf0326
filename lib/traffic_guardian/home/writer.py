"""FindingWriter: the append-only JSONL findings log, bounded and safe to share.

Each finding is one whole line even with many writers: threads serialise on a lock,
processes on flock() over a lock file, and every line goes out in one write() on an
O_APPEND descriptor. Rotation (log_max_bytes, log_backups) happens under the same lock,
so a writer in another process notices the rotated inode and reopens. A partial last line
(a writer killed mid-write) is ended before the next line, never glued to it. Deduplication of
the same (pattern, dest, direction, location) within dedup_window_secs is per process;
the count of suppressed repeats rides on the next finding that is written.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from pathlib import Path

from traffic_guardian.detect.finding import Finding
from traffic_guardian.home.guardian_home import GuardianHome

MAX_DEDUP_KEYS = 10000


class FindingWriter:
    def __init__(self, home: GuardianHome, path: Path, max_bytes: int, backups: int, dedup_window_secs: int,
                 clock=time.monotonic):
        self.home = home
        self.path = Path(path)
        self.lock_path = self.path.with_name(f".{self.path.name}.lock")
        self.max_bytes = max_bytes
        self.backups = backups
        self.window = dedup_window_secs
        self.clock = clock
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._last_emit: dict[tuple, float] = {}
        self._suppressed: dict[tuple, int] = {}
        self.written = 0
        self.suppressed_total = 0

    @classmethod
    def from_config(cls, config) -> FindingWriter:
        return cls(config.home, config.log_path, config.log_max_bytes, config.log_backups,
                   config.dedup_window_secs)

    def write(self, finding: Finding) -> bool:
        """Append finding unless it repeats within the window; True when written.

        OSError (disk full, read-only home) propagates: the caller decides how to report it.
        """
        with self._lock:
            if not self._admit(finding):
                return False
            data = (finding.to_json() + "\n").encode("utf-8")
            self._append(data)
            self.written += 1
            return True

    def _admit(self, finding: Finding) -> bool:
        if self.window <= 0:
            return True
        key = finding.dedup_key
        now = self.clock()
        last = self._last_emit.get(key)
        if last is not None and now - last < self.window:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            self.suppressed_total += 1
            return False
        finding.suppressed = self._suppressed.pop(key, 0)
        self._last_emit[key] = now
        if len(self._last_emit) > MAX_DEDUP_KEYS:
            self._forget_expired(now)
        return True

    def _forget_expired(self, now: float) -> None:
        for key, last in list(self._last_emit.items()):
            if now - last >= self.window:
                del self._last_emit[key]
                self._suppressed.pop(key, None)

    def _append(self, data: bytes) -> None:
        lock_fd = self.home.open_append(self.lock_path)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            fd = self._current_fd()
            size = os.fstat(fd).st_size
            if size and size + len(data) > self.max_bytes:
                self._rotate()
                fd = self._current_fd()
                size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # A writer killed mid-line left a partial last line: end it, so this finding
                # starts a line of its own and readers skip only the partial one.
                data = b"\n" + data
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            except OSError:
                # A write cut short (disk full) must not leave half a line behind: the next
                # finding would be glued to it and both lost. Take the partial bytes back.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise
        finally:
            os.close(lock_fd)  # closing releases the flock

    def _current_fd(self) -> int:
        """Our descriptor for the live log, reopened if another writer rotated it away."""
        if self._fd is not None:
            try:
                live = os.stat(self.path, follow_symlinks=False)
                if live.st_ino == os.fstat(self._fd).st_ino:
                    return self._fd
            except FileNotFoundError:
                pass
            os.close(self._fd)
            self._fd = None
        self._fd = self.home.open_append(self.path, readable=True)
        return self._fd

    def _rotate(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.backups == 0:
            os.unlink(self.path)
            return
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if os.path.lexists(older):
                os.replace(older, self.path.with_name(f"{self.path.name}.{index + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def log_files(path: Path, backups: int = 100) -> list[Path]:
    """The live log and its rotated backups, oldest first (for readers such as query.py)."""
    rotated = []
    for index in range(backups, 0, -1):
        candidate = path.with_name(f"{path.name}.{index}")
        if candidate.exists():
            rotated.append(candidate)
    return [*rotated, path] if path.exists() else rotated
