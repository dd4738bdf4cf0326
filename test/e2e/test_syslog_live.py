"""Findings to syslog end to end (issue 20, items 3-4, acceptance (b) and (c)), with the real
rsyslog (Debian's package, installed by scripts/test.sh when root) on 127.0.0.1 only, in
temporary directories:

(b) a forwarding rsyslog running config/rsyslog/picoclaw-traffic-guardian.conf (imfile on
    our findings log, across its rotation, then omfwd) to a receiving rsyslog;
(c) the monitor's own syslog sink (config `syslog`, udp) to the same receiver.

Every finding arrives exactly once on each path, byte-equal to its JSONL line, and no
planted secret reaches either file.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import fakes
from canary import assert_no_leak
from local_servers import UPSTREAMS_ARE_PUBLIC, AnswerOk, free_port, serving
from scoped_client import run_scoped

pytestmark = pytest.mark.e2e

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
SHIPPED = Path(__file__).resolve().parents[2] / "config" / "rsyslog" / "picoclaw-traffic-guardian.conf"
FINDINGS = 150  # distinct planted tokens: enough lines to rotate a 64 KiB log at least once

CLIENT = r'''
import sys, urllib.request
url, tokens = sys.argv[1], open(sys.argv[2]).read().split()
opener = urllib.request.build_opener(urllib.request.ProxyHandler())
for token in tokens:
    opener.open(urllib.request.Request(url, data=f"t={token}".encode(), method="POST"), timeout=30).read()
'''

RECEIVER = '''global(workDirectory="{dir}" maxMessageSize="64k")
module(load="imtcp")
module(load="imudp")
template(name="raw" type="string" string="%msg%\\n")
input(type="imtcp" address="127.0.0.1" port="{tcp}" ruleset="forwarded")
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="direct")
ruleset(name="forwarded") {{ action(type="omfile" file="{dir}/forwarded.log" template="raw") }}
ruleset(name="direct") {{ action(type="omfile" file="{dir}/direct.log" template="raw") }}
'''


def rsyslogd(config: Path, directory: Path) -> subprocess.Popen:
    process = subprocess.Popen([RSYSLOGD, "-n", "-f", str(config), "-i", str(directory / "rsyslogd.pid")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    time.sleep(0.5)
    if process.poll() is not None:
        pytest.fail(f"rsyslogd did not start: {process.stdout.read().decode(errors='replace')[-1500:]}")
    return process


def wait_listening(tcp: int, udp: int, timeout: float = 30) -> None:
    """Until the receiver has bound its TCP port (connectable) and its UDP port (in /proc/net/udp)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", tcp), timeout=1).close()
            if f":{udp:04X} " in Path("/proc/net/udp").read_text():
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail("the receiving rsyslog did not start listening")


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []


@pytest.mark.skipif(not os.access(RSYSLOGD, os.X_OK), reason="rsyslog (Debian's rsyslog) is not installed")
def test_every_finding_reaches_syslog_once_byte_equal_by_imfile_and_by_the_monitor(guardian_env, tmp_path):
    receiver_dir, forwarder_dir = tmp_path / "receiver", tmp_path / "forwarder"
    receiver_dir.mkdir()
    forwarder_dir.mkdir()
    tcp, udp = free_port(), free_port()
    (receiver_dir / "rsyslog.conf").write_text(RECEIVER.format(dir=receiver_dir, tcp=tcp, udp=udp))
    home = Path(guardian_env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"])
    log = home / "logs" / "findings.jsonl"
    shipped = SHIPPED.read_text()
    for example, ours in (("/home/pi/.picoclaw/security/clawsec/traffic-guardian/logs/findings.jsonl", str(log)),
                          ('Target="logs.example.net"', 'Target="127.0.0.1"'), ('Port="514"', f'Port="{tcp}"')):
        assert example in shipped
        shipped = shipped.replace(example, ours)
    (forwarder_dir / "rsyslog.conf").write_text(f'global(workDirectory="{forwarder_dir}")\n' + shipped)
    tokens = [fakes.github_token() for _ in range(FINDINGS)]
    (tmp_path / "tokens").write_text("\n".join(tokens))
    (tmp_path / "client.py").write_text(CLIENT)
    config = tmp_path / "guardian.json"
    config.write_text(json.dumps({"listen_port": free_port(), "dedup_window_secs": 0, "log_max_bytes": 65536,
                                  "syslog": {"address": f"udp://127.0.0.1:{udp}"}, **UPSTREAMS_ARE_PUBLIC}))
    receiver = rsyslogd(receiver_dir / "rsyslog.conf", receiver_dir)
    wait_listening(tcp, udp)  # the monitor's first datagrams must find the receiver bound
    forwarder = rsyslogd(forwarder_dir / "rsyslog.conf", forwarder_dir)
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AnswerOk)
        with serving(server):
            url = f"http://127.0.0.1:{server.server_address[1]}/collect"
            stdout, stderr = run_scoped(guardian_env, config, [sys.executable, str(tmp_path / "client.py"), url,
                                                               str(tmp_path / "tokens")], timeout=240)
        written = [line for path in sorted(log.parent.glob("findings.jsonl*"), reverse=True)
                   for line in lines_of(path)]
        assert len(written) >= FINDINGS and (log.parent / "findings.jsonl.1").exists()  # it rotated
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(lines_of(receiver_dir / "forwarded.log")) >= len(written) and \
                    len(lines_of(receiver_dir / "direct.log")) >= len(written):
                break
            time.sleep(0.5)
    finally:
        for process in (forwarder, receiver):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    for name in ("forwarded.log", "direct.log"):
        arrived = lines_of(receiver_dir / name)
        assert Counter(arrived) == Counter(written), name  # each exactly once, byte for byte
    assert_no_leak(tokens, home=home, outputs=[stdout, stderr, *(p.read_bytes() for p in receiver_dir.glob("*.log"))])
