"""The processes pointed at this home's monitor: the child start.sh ran, and any other.

stop.py must not cut a gateway off silently and status.py must say when one is left
without its proxy, so both need to know who is scoped. Two sources, both read-only:

- `<home>/run/child.json`, written by start.sh for the child it runs (pid, kernel start
  time, the program's base name, and its exit status once it ends: control/child_keeper.py);
- `/proc/<pid>/environ` of the operator's own processes: a proxy variable whose URL names
  the guardian's proxy user at this monitor's address (`env $(scripts/proxy-env.sh) CMD`,
  a systemd unit with `EnvironmentFile=<home>/run/proxy.env`). The password is not
  compared: a process holding old credentials is pointed at us all the same.

Another user's processes are not readable without root; they are not reported (SPEC
section 10 says so). Linux only: elsewhere only the child record is used.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from traffic_guardian.home.guardian_home import GuardianHome
from traffic_guardian.home.run_files import (
    process_start_time,
    read_credentials_record,
    read_record,
    wait_for_exit,
)

CHILD_FILE = "child.json"
PROXY_NAMES = (b"HTTP_PROXY", b"HTTPS_PROXY", b"http_proxy", b"https_proxy")
PROC = Path("/proc")


@dataclass(frozen=True)
class ScopedProcess:
    pid: int
    comm: str
    alive: bool
    started_by_us: bool  # start.sh ran it (child.json), or it was given the proxy variables some other way
    exit_status: int | None = None

    def as_dict(self) -> dict:
        return {"pid": self.pid, "comm": self.comm, "alive": self.alive,
                "started_by": "start.sh" if self.started_by_us else "other", "exit_status": self.exit_status}


def write_child_record(home: GuardianHome, record: dict) -> None:
    home.write_atomic(home.run_dir / CHILD_FILE, (json.dumps(record, sort_keys=True) + "\n").encode())


def clear_child_record(home: GuardianHome) -> None:
    try:
        os.unlink(home.run_dir / CHILD_FILE)
    except FileNotFoundError:
        pass


def read_child_record(home: GuardianHome) -> dict:
    return read_record(home, home.run_dir / CHILD_FILE)


def child_alive(record: dict) -> bool:
    """The recorded child still runs: same pid AND same kernel start time (a pid is reused)."""
    pid, started = record.get("pid"), record.get("process_start_time")
    return isinstance(pid, int) and isinstance(started, int) and process_start_time(pid) == started


def comm_of(pid: int) -> str:
    try:
        return (PROC / str(pid) / "comm").read_text(errors="replace").strip()[:32]
    except OSError:
        return "?"


def points_at(environ: bytes, user: str, host: str, port: int) -> bool:
    """environ (NUL-separated NAME=VALUE) has a proxy variable naming user@host:port."""
    for entry in environ.split(b"\0"):
        name, _, value = entry.partition(b"=")
        if name not in PROXY_NAMES:
            continue
        try:
            parts = urlsplit(value.decode("utf-8", "replace"))
            if parts.username == user and (parts.hostname or "") == host.strip("[]") and parts.port == port:
                return True
        except ValueError:
            continue
    return False


def scoped_processes(home: GuardianHome, user: str | None, host: str | None, port: int | None) -> list[ScopedProcess]:
    """start.sh's child (alive or not, with its exit status), then every other live process of
    this user whose environment points at user@host:port. Our own monitor never counts."""
    found: list[ScopedProcess] = []
    record = read_child_record(home)
    child_pid = record.get("pid") if isinstance(record.get("pid"), int) else None
    if child_pid is not None:
        alive = child_alive(record)
        found.append(ScopedProcess(child_pid, str(record.get("comm") or "?"), alive, True,
                                   record.get("exit_status") if not alive else None))
    if not user or not host or not port or not PROC.is_dir():
        return found
    skip = {os.getpid(), child_pid, record.get("keeper_pid")}  # the keeper holds the child's environment
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid in skip:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or another user's: not readable without root
        if points_at(environ, user, host, port):
            found.append(ScopedProcess(pid, comm_of(pid), True, False))
    return found


def gateway_environ(home: GuardianHome) -> dict[str, str]:
    """This process's environment plus the PICOCLAW_* (and HOME) variables of the gateway that
    start.sh --background launched, while it runs: PicoClaw reads its secret overrides and enc://
    key material from its own environment, which may add to the one start.sh had."""
    env = dict(os.environ)
    record = read_child_record(home)
    if not child_alive(record):
        return env
    try:
        raw = (PROC / str(record["pid"]) / "environ").read_bytes()
    except OSError:
        return env
    for entry in raw.split(b"\0"):
        name, sep, value = entry.decode("utf-8", "replace").partition("=")
        if sep and (name.startswith("PICOCLAW_") or name in ("HOME", "SECRET", "BOT_ID", "WEBSOCKET_URL")):
            env[name] = value
    return env


def descendants(pid: int) -> list[int]:
    """pid's children, grandchildren, ... from /proc/<pid>/task/*/children (Linux 3.5+)."""
    result, queue = [], [pid]
    while queue and len(result) < 4096:
        parent = queue.pop()
        for task in (PROC / str(parent) / "task").glob("*/children"):
            try:
                kids = [int(k) for k in task.read_text().split()]
            except (OSError, ValueError):
                continue
            result += kids
            queue += kids
    return result


def monitor_address(home: GuardianHome, info: dict) -> tuple[str | None, str | None, int | None]:
    """(proxy user, host, port) of this home's monitor: from the kept credentials file, which
    outlives a stop (a process scoped to a stopped monitor is still pointed at it)."""
    data = read_credentials_record(home)
    try:
        return str(data["username"]), str(data["listen_host"]), int(data["listen_port"])
    except (KeyError, TypeError, ValueError):
        pass
    listen = str(info.get("listen") or "")
    host, _, port = listen.rpartition(":")
    return (None, host or None, int(port)) if port.isdigit() else (None, None, None)


def scoped_to_monitor(home: GuardianHome, info: dict) -> list[ScopedProcess]:
    return scoped_processes(home, *monitor_address(home, info))


def stop_child(home: GuardianHome, timeout: float) -> str:
    """SIGTERM the child start.sh ran (identity re-checked), SIGKILL after timeout."""
    record = read_child_record(home)
    if not child_alive(record):
        return "had already exited"
    pid, started = record["pid"], record["process_start_time"]
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return "had already exited"
    if wait_for_exit(pid, started, timeout):
        return "stopped"
    if child_alive(record):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return "stopped"
        wait_for_exit(pid, started, 5.0)
    return "killed after SIGTERM was not enough"
