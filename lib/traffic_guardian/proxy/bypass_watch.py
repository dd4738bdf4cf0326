"""Connections the scoped processes make without the proxy: `proxy_bypass` findings.

The proxy only sees what is sent to it. A runtime that ignores proxy variables (Node's
fetch, a raw socket, a command the agent's exec tool runs, Go for loopback targets)
reaches the network directly, and nothing else in the guardian would notice. The monitor's
supervisor runs this watch every SOCKET_INTERVAL_SECS: the scoped processes (the child
start.sh ran and its descendants; every process of this user whose proxy variables point
at the monitor, found every DISCOVERY_INTERVAL_SECS, and their descendants) and each one's
TCP connections (established or connecting) and connected UDP sockets
(home/proc_sockets.py). One to anything other than the monitor's listener is a finding:

- `tcp` / `udp`, medium: the process reached that address directly;
- `expected_local`, low: a loopback address the PicoClaw config names (a local model);
- `dns`, info: port 53 of a resolver in /etc/resolv.conf (PicoClaw resolves names for its
  own SSRF check; a name lookup is not traffic the proxy could have carried).

Each socket is reported once, and each (process name, destination) once per dedup window.
It is a sample: a connection that opens and closes between two looks is not seen. /proc of
another user's process is not readable without root: the watch then says so in
`run/supervisor.json` (`bypass_watch`), which status.py shows, instead of reporting nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from traffic_guardian.detect.egress_policy import is_loopback
from traffic_guardian.detect.exchange import OUTBOUND
from traffic_guardian.detect.finding import Finding
from traffic_guardian.detect.providers import host_matches
from traffic_guardian.home.guardian_home import GuardianHome
from traffic_guardian.home.proc_sockets import PROC, connections, socket_inodes
from traffic_guardian.home.scoped_processes import (
    child_alive,
    comm_of,
    descendants,
    read_child_record,
    scoped_to_monitor,
)

PATTERN = "proxy_bypass"
SOCKET_INTERVAL_SECS = 0.5
DISCOVERY_INTERVAL_SECS = 1.0  # an environ scan of every process: about 0.6 ms per 75 processes
MAX_REPORTED_SOCKETS = 10000


def resolvers(path: Path = Path("/etc/resolv.conf")) -> frozenset[str]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return frozenset()
    return frozenset(parts[1] for line in lines if len(parts := line.split()) >= 2 and parts[0] == "nameserver")


class BypassWatch:
    def __init__(self, home: GuardianHome, listen: tuple[str, int], expected_hosts: Callable[[], Iterable[str]],
                 write: Callable[[Finding], None], window_secs: int, clock: Callable[[], float] = time.monotonic,
                 own_pids: Callable[[], Iterable[int]] = lambda: ()):
        self.home = home
        self.listen = listen
        self.expected_hosts = expected_hosts
        self.write = write
        self.window = window_secs
        self.clock = clock
        self.own_pids = own_pids
        self.resolvers = resolvers()
        self.reported_sockets: set[tuple[int, str]] = set()
        self.last_by_dest: dict[tuple[str, str], float] = {}
        self.others: list[int] = []  # processes found by their environment, refreshed every DISCOVERY_INTERVAL_SECS
        self.next_discovery = 0.0
        self.next_look = 0.0
        self.found = 0
        self.status = "on" if PROC.is_dir() else "off: no /proc (not Linux): bypasses are not detected"

    def due(self) -> bool:
        return self.clock() >= self.next_look

    def look(self) -> None:
        """One pass over the scoped processes' sockets; never raises."""
        now = self.clock()
        self.next_look = now + SOCKET_INTERVAL_SECS
        if not PROC.is_dir():
            return
        try:
            if now >= self.next_discovery:
                self.next_discovery = now + DISCOVERY_INTERVAL_SECS
                self.others = [p.pid for p in scoped_to_monitor(self.home, {}) if p.alive and not p.started_by_us]
            unreadable = []
            for pid in self._tree():
                try:
                    inodes = socket_inodes(pid)
                except PermissionError:
                    unreadable.append(pid)
                    continue
                except OSError:
                    continue  # exited meanwhile
                if inodes:
                    for connection in connections(pid, inodes):
                        self._consider(pid, connection)
            self.status = "on" if not unreadable else (
                f"partial: /proc/<pid>/fd of pid {', '.join(map(str, unreadable[:5]))} is not readable (another "
                "user's process: run the monitor as the gateway's user, or as root)")
        except Exception as exc:  # noqa: BLE001  (the watch must never take the supervisor down)
            self.status = f"error: {type(exc).__name__}: {exc}"[:300]

    def _tree(self) -> list[int]:
        roots = list(self.others)
        record = read_child_record(self.home)
        if child_alive(record):
            roots.append(record["pid"])
        own = set(self.own_pids())
        tree: list[int] = []
        for root in roots:
            for pid in (root, *descendants(root)):
                if pid not in own and pid not in tree:
                    tree.append(pid)
        return tree

    def _consider(self, pid: int, connection) -> None:
        host, port = connection.remote_host, connection.remote_port
        if (host, port) == self.listen or (is_loopback(host) and is_loopback(self.listen[0])
                                           and port == self.listen[1]):
            return  # through the monitor
        key = (pid, connection.inode)
        if key in self.reported_sockets:
            return
        if len(self.reported_sockets) >= MAX_REPORTED_SOCKETS:
            self.reported_sockets.clear()
        self.reported_sockets.add(key)
        comm = comm_of(pid)
        dest = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        now = self.clock()
        last = self.last_by_dest.get((comm, dest))
        if last is not None and self.window > 0 and now - last < self.window:
            return
        if len(self.last_by_dest) >= MAX_REPORTED_SOCKETS:
            self.last_by_dest.clear()
        self.last_by_dest[(comm, dest)] = now
        variant, severity = connection.protocol, "medium"
        if port == 53 and host in self.resolvers:
            variant, severity = "dns", "info"
        elif is_loopback(host) and host_matches(host, list(self.expected_hosts())):
            variant, severity = "expected_local", "low"
        self.found += 1
        self.write(Finding(
            direction=OUTBOUND, protocol=connection.protocol, threat_type="POLICY", pattern=PATTERN, variant=variant,
            severity=severity, source=f"{comm}[{pid}]", dest=dest, location="process.socket",
            snippet=f"{comm} (pid {pid}) {'connected' if connection.state != '02' else 'is connecting'} to {dest} "
                    f"over {connection.protocol.upper()} directly, not through the monitor",
            description="A scoped process reached the network without the proxy (a runtime that ignores proxy "
                        "variables, or a raw socket): nothing it sent there was inspected"))
