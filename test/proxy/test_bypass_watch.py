"""proxy_bypass (SPEC.md section 10): the watch reads the real /proc of real processes: a child
of this test that holds a TCP connection and a connected UDP socket is seen, its connection to
the monitor's listener is not a bypass, each socket is reported once, and the variants follow
the destination (a resolver's port 53, a loopback host the PicoClaw config names).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from traffic_guardian.home.guardian_home import GuardianHome
from traffic_guardian.home.proc_sockets import Connection, connections, socket_inodes
from traffic_guardian.proxy.bypass_watch import BypassWatch

HOLDER = """
import socket, sys, time
tcp = [socket.create_connection(("127.0.0.1", int(port))) for port in sys.argv[1:]]
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.connect(("10.9.9.9", 5353))
print("ready", flush=True)
time.sleep(30)
"""


@pytest.fixture
def listeners():
    servers = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    yield [server.getsockname()[1] for server in servers]
    for server in servers:
        server.close()


@pytest.fixture
def holder(tmp_path, listeners):
    """A child holding TCP connections to both listeners and a connected UDP socket, recorded as start.sh's child."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, *map(str, listeners)], stdout=subprocess.PIPE)
    assert process.stdout.readline() == b"ready\n"
    home = GuardianHome(tmp_path / "home")
    home.ensure_dir(home.run_dir)
    start = int(open(f"/proc/{process.pid}/stat").read().rsplit(")", 1)[1].split()[19])
    (home.run_dir / "child.json").write_text(json.dumps({"pid": process.pid, "process_start_time": start,
                                                         "comm": "python"}))
    yield process, home
    process.kill()
    process.wait()


def test_proc_sockets_lists_a_processes_connections(holder, listeners):
    process, _home = holder
    found = connections(process.pid, socket_inodes(process.pid))
    assert {(c.protocol, c.remote_host, c.remote_port) for c in found} == {
        ("tcp", "127.0.0.1", listeners[0]), ("tcp", "127.0.0.1", listeners[1]), ("udp", "10.9.9.9", 5353)}


def test_connections_around_the_listener_are_findings_once(holder, listeners):
    process, home = holder
    written = []
    watch = BypassWatch(home, ("127.0.0.1", listeners[0]), lambda: (), written.append, 0)
    watch.look()
    assert {(f.dest, f.variant, f.severity) for f in written} == {
        (f"127.0.0.1:{listeners[1]}", "tcp", "medium"), ("10.9.9.9:5353", "udp", "medium")}
    assert all(f.pattern == "proxy_bypass" and f.threat_type == "POLICY" and f.source.endswith(f"[{process.pid}]")
               for f in written)
    watch.next_look = 0
    watch.look()
    assert len(written) == 2  # each socket once
    assert watch.found == 2 and watch.status == "on"


def test_variants_follow_the_destination(tmp_path):
    home = GuardianHome(tmp_path / "home")
    written = []
    watch = BypassWatch(home, ("127.0.0.1", 18777), lambda: ("localhost", "127.0.0.1"), written.append, 0)
    watch.resolvers = frozenset({"10.255.255.53"})
    for inode, host, port in (("1", "10.255.255.53", 53), ("2", "127.0.0.1", 11434), ("3", "93.184.216.34", 443),
                              ("4", "127.0.0.1", 18777)):
        watch._consider(os.getpid(), Connection(inode, "udp" if port == 53 else "tcp", host, port, "01"))
    assert [(f.dest, f.variant, f.severity) for f in written] == [
        ("10.255.255.53:53", "dns", "info"), ("127.0.0.1:11434", "expected_local", "low"),
        ("93.184.216.34:443", "tcp", "medium")]


def test_the_same_destination_is_reported_once_per_window(tmp_path):
    now = [0.0]
    written = []
    watch = BypassWatch(GuardianHome(tmp_path / "home"), ("127.0.0.1", 1), lambda: (), written.append, 60,
                        clock=lambda: now[0])
    for inode in ("1", "2"):
        watch._consider(os.getpid(), Connection(inode, "tcp", "93.184.216.34", 443, "01"))
    now[0] = 61.0
    watch._consider(os.getpid(), Connection("3", "tcp", "93.184.216.34", 443, "01"))
    assert len(written) == 2
