"""The guardian home: the one directory that holds all state, and safe file writes in it.

Every file we write goes through this module so the safety rules live in one place:
the home and its subdirectories are 0700, files are 0600, and no write follows a symlink
(an attacker who can plant a link in the home must not make us overwrite another file).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

ENV_HOME = "PICOCLAW_TRAFFIC_GUARDIAN_HOME"


class HomeError(Exception):
    """A home path that is unsafe or unusable; the message names the path."""


def resolve_home(env: dict[str, str] | None = None) -> Path:
    """PICOCLAW_TRAFFIC_GUARDIAN_HOME, else $PICOCLAW_HOME/security/clawsec/traffic-guardian."""
    env = os.environ if env is None else env
    explicit = env.get(ENV_HOME)
    if explicit:
        return Path(explicit).expanduser().absolute()
    picoclaw_home = env.get("PICOCLAW_HOME") or str(Path("~/.picoclaw").expanduser())
    return Path(picoclaw_home).expanduser().absolute() / "security" / "clawsec" / "traffic-guardian"


def is_inside(path: Path, root: Path) -> bool:
    """True when path, with symlinks and .. resolved as far as they exist, lies in root."""
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


class GuardianHome:
    """All state of one guardian instance. Nothing is created until ensure() or a write."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> GuardianHome:
        return cls(resolve_home(env))

    # Well-known locations, so scripts agree without passing paths around.
    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "monitor.pid"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "state.json"

    @property
    def counters_file(self) -> Path:
        return self.run_dir / "counters.json"

    @property
    def confdir(self) -> Path:
        """mitmproxy's confdir: the guardian CA lives here, never in a system store."""
        return self.root / "mitmproxy"

    @property
    def fingerprint_key_file(self) -> Path:
        return self.root / "fingerprint.key"

    def path(self, relative: str | Path) -> Path:
        return self.root / relative

    def ensure_dir(self, directory: Path | None = None) -> Path:
        """Create directory (default: the home) and its parents inside the home as 0700."""
        directory = self.root if directory is None else Path(directory)
        if directory != self.root and not is_inside(directory, self.root):
            raise HomeError(f"{directory}: refusing to create a directory outside the home {self.root}")
        for part in [*reversed(directory.relative_to(self.root).parents), directory.relative_to(self.root)]:
            current = self.root / part
            try:
                current.mkdir(mode=0o700, parents=(current == self.root))
                os.chmod(current, 0o700)
                continue
            except FileExistsError:
                # It was there already, or another process (a second writer) made it first:
                # either way, check what is there rather than trust it.
                pass
            problem = directory_problem(current)
            if problem:
                raise HomeError(problem)
            if stat.S_IMODE(os.lstat(current).st_mode) & 0o077:
                os.chmod(current, 0o700)
        return directory

    def problems(self) -> list[str]:
        """What ensure_dir would refuse in the home and its run/ and logs/ directories, found
        without writing anything (validate.py reports these in start.sh's words)."""
        found = []
        for directory in (self.root, self.run_dir, self.root / "logs", self.confdir):
            if os.path.lexists(directory):
                problem = directory_problem(directory)
                if problem:
                    found.append(problem)
                    if directory == self.root:
                        break
        return found

    def open_append(self, path: Path, readable: bool = False) -> int:
        """An O_APPEND descriptor for path (0600), never following a symlink at the last step;
        readable: also open for reading (the findings writer checks the last byte)."""
        self.ensure_dir(path.parent)
        flags = os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        flags |= os.O_RDWR if readable else os.O_WRONLY
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            if exc.errno == 40:  # ELOOP: the final component is a symlink
                raise HomeError(f"{path}: is a symlink; refusing to write through it") from exc
            raise
        os.fchmod(fd, 0o600)
        return fd

    def write_atomic(self, path: Path, data: bytes) -> None:
        """Write a whole file or nothing: temp file in the same directory, fsync, rename."""
        self.ensure_dir(path.parent)
        if path.is_symlink():
            raise HomeError(f"{path}: is a symlink; refusing to replace it")
        write_file_atomic(path, data)

    def fingerprint_key(self, create: bool) -> bytes | None:
        """The per-home random key that salts secret fingerprints (0600, never printed).

        With create=False (read-only front ends such as scan.py) a missing key gives None
        and the caller uses a throwaway salt.
        """
        path = self.fingerprint_key_file
        try:
            return bytes.fromhex(self.read_text(path).strip())
        except FileNotFoundError:
            if not create:
                return None
        except ValueError as exc:
            raise HomeError(f"{path}: is not a hex key; remove it to generate a new one") from exc
        key = os.urandom(32)
        self.write_atomic(path, key.hex().encode() + b"\n")
        return key

    def read_text(self, path: Path) -> str:
        """Read a file of ours without following a symlink planted in its place."""
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "r", encoding="utf-8") as handle:
            return handle.read()


def directory_problem(path: Path) -> str | None:
    """Why an existing path cannot be a guardian directory (a symlink, not a directory, or
    another user's), in the words start.sh and validate.py print; None when it can."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return f"{path}: is a symlink; refusing to use it as a guardian directory"
    if not stat.S_ISDIR(info.st_mode):
        return f"{path}: exists and is not a directory"
    if info.st_uid != os.geteuid():
        return (f"{path}: is owned by uid {info.st_uid}, not by this user (uid {os.geteuid()}); "
                "refusing to use it as a guardian directory")
    return None


def write_file_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Atomic replace for any path (also outside the home, e.g. a profile --output)."""
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(temp, flags, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
