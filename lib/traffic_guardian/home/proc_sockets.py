"""The network sockets a process holds, and where they lead, read from /proc (Linux, no root).

The bypass watch (proxy/bypass_watch.py) needs to know which connections a scoped process
made without the proxy: /proc/<pid>/fd names each open socket by inode, and the process's
own /proc/<pid>/net/{tcp,tcp6,udp,udp6} tables give each inode's local and remote address
and state, in that process's network namespace. Reading another user's /proc/<pid>/fd
needs root (or ptrace rights): that is a PermissionError for the caller to report.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TCP_LISTEN, TCP_CLOSE = "0A", "07"  # every other TCP state is a connection made, being made or closing
TABLES = (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6), ("udp", socket.AF_INET), ("udp6", socket.AF_INET6))


@dataclass(frozen=True)
class Connection:
    inode: str
    protocol: str  # tcp | udp
    remote_host: str
    remote_port: int
    state: str  # the kernel's hex state: 01 established, 02 connecting, 07 (udp) unconnected...


def socket_inodes(pid: int) -> set[str]:
    """Inodes of the sockets pid has open. PermissionError when pid is not ours to read."""
    inodes = set()
    directory = PROC / str(pid) / "fd"
    for fd in os.listdir(directory):
        try:
            target = os.readlink(directory / fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _address(hex_address: str, family: int) -> tuple[str, int]:
    address_hex, port_hex = hex_address.split(":")
    raw = bytes.fromhex(address_hex)
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # host-order 32-bit words
    host = socket.inet_ntop(family, raw)
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]  # an IPv4 peer on an IPv6 socket
    return host, int(port_hex, 16)


def connections(pid: int, inodes: set[str]) -> list[Connection]:
    """The TCP connections (established, connecting or closing) and connected UDP sockets among
    inodes, from pid's own network namespace; listening and unconnected sockets are left out."""
    found = []
    for table, family in TABLES:
        try:
            lines = (PROC / str(pid) / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[9] not in inodes:
                continue
            remote_host, remote_port = _address(fields[2], family)
            protocol = "tcp" if table.startswith("tcp") else "udp"
            if protocol == "tcp" and fields[3] in (TCP_LISTEN, TCP_CLOSE) or remote_port == 0:
                continue  # a listener, or no peer to name
            found.append(Connection(fields[9], protocol, remote_host, remote_port, fields[3]))
    return found
