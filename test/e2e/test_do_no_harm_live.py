"""Do no harm (SPEC.md section 10): the real monitor, real scoped clients, the ways a monitor
goes away, the connections that go around it and the ones it makes to private addresses.

A proxy process killed with SIGKILL is restarted by the monitor's supervisor and the same
client's requests succeed again (the window is measured and printed); a supervisor killed
with SIGKILL takes its proxy with it, status says the client is left without its proxy,
and `start.sh --background` again serves the same client with no 407 (credentials and port
kept in the home); stop.py refuses while the client runs and stops it with --with-child;
`start.sh --background -- CMD` returns while CMD runs; --new-credentials rotates them;
<home>/run/proxy.env works as a service's environment file. A Node 20 fetch and a raw socket
that ignore the proxy variables are proxy_bypass findings; a request to a name that
resolves to 169.254.169.254 is a private_destination finding.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from canary import assert_no_leak
from conftest import BUNDLE, SCRIPTS
from local_servers import free_port
from polling import poll

sys.path.insert(0, str(BUNDLE / "scripts"))
from demo_upstream import Upstreams  # noqa: E402

from traffic_guardian.home.run_files import process_start_time  # noqa: E402

pytestmark = pytest.mark.e2e

# The scoped child: one GET every 50 ms through the proxy from its environment, each
# outcome appended to a file as "<monotonic time> <status or error class>".
CLIENT = """
import sys, time, urllib.request, urllib.error
url, out = sys.argv[1], sys.argv[2]
opener = urllib.request.build_opener(urllib.request.ProxyHandler())
while True:
    try:
        with opener.open(url, timeout=5) as response:
            outcome = str(response.status)
    except urllib.error.HTTPError as exc:
        outcome = str(exc.code)
    except Exception as exc:
        outcome = type(exc).__name__
    with open(out, "a") as handle:
        handle.write(f"{time.monotonic():.3f} {outcome}\\n")
    time.sleep(0.05)
"""


def run(argv, env, timeout=90):
    return subprocess.run(argv, env=env, capture_output=True, timeout=timeout)


def script(name, *args):
    path = SCRIPTS / name
    return ["bash", str(path), *args] if name.endswith(".sh") else [sys.executable, str(path), *args]


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    servers = Upstreams(tmp_path_factory.mktemp("upstream"))
    yield f"http://127.0.0.1:{servers.ports['http']}/echo"
    servers.stop()


class Guardian:
    def __init__(self, root: Path):
        self.root = root
        self.home = root / "home"
        self.port = free_port()
        config = root / "config.json"
        config.write_text(json.dumps({"listen_port": self.port, "dedup_window_secs": 0}))
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("PICOCLAW_") and k.lower() not in ("http_proxy", "https_proxy", "no_proxy",
                                                                            "all_proxy")}
        self.env.update(PICOCLAW_TRAFFIC_GUARDIAN_HOME=str(self.home), PICOCLAW_TRAFFIC_GUARDIAN_CONFIG=str(config),
                        PICOCLAW_HOME=str(root / "picoclaw"))
        self.outputs: list[bytes] = []
        self.outcomes = root / "outcomes.txt"

    def call(self, name, *args, timeout=90):
        result = run(script(name, *args), self.env, timeout)
        self.outputs += [result.stdout, result.stderr]
        return result

    def start_with_client(self, upstream: str):
        code = self.root / "client.py"
        code.write_text(CLIENT)
        started = time.monotonic()
        result = self.call("start.sh", "--background", "--", sys.executable, str(code), upstream, str(self.outcomes))
        return result, time.monotonic() - started

    def run_file(self, name: str) -> dict:
        try:
            return json.loads((self.home / "run" / name).read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def outcomes_since(self, since: float) -> list[str]:
        lines = self.outcomes.read_text().splitlines() if self.outcomes.exists() else []
        return [outcome for stamp, outcome in (line.split(" ", 1) for line in lines) if float(stamp) >= since]

    def wait_success_after(self, since: float, timeout: float = 30) -> list[str]:
        return poll(lambda: self.outcomes_since(since), lambda seen: "200" in seen, timeout)

    def cleanup(self):
        run(script("stop.py", "--with-child", "--force"), self.env, 60)
        child = self.run_file("child.json")
        if child.get("pid") and process_start_time(child["pid"]) == child.get("process_start_time"):
            os.kill(child["pid"], signal.SIGKILL)


@pytest.fixture
def guardian(tmp_path):
    g = Guardian(tmp_path)
    yield g
    g.cleanup()
    assert_no_leak([], g.home, g.outputs)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_background_start_returns_while_the_child_runs(guardian, upstream):
    result, elapsed = guardian.start_with_client(upstream)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    printed = json.loads(result.stdout.splitlines()[-1])
    child = guardian.run_file("child.json")
    assert printed["child"]["pid"] == child["pid"]
    assert process_start_time(child["pid"]) == child["process_start_time"]  # still running after we got back
    assert elapsed < 30
    assert "200" in guardian.wait_success_after(0)
    status = json.loads(guardian.call("status.py", "--json").stdout)
    expected = {"pid": child["pid"], "alive": True, "started_by": "start.sh"}
    assert expected.items() <= status["scoped_processes"][0].items()


def test_a_killed_proxy_is_restarted_and_the_same_child_recovers(guardian, upstream):
    assert guardian.start_with_client(upstream)[0].returncode == 0
    guardian.wait_success_after(0)
    proxy_pid = guardian.run_file("supervisor.json")["proxy_pid"]
    killed_at = time.monotonic()
    os.kill(proxy_pid, signal.SIGKILL)
    seen = guardian.wait_success_after(killed_at)
    assert "200" in seen and "407" not in seen
    window = float(next(line.split()[0] for line in guardian.outcomes.read_text().splitlines()
                        if float(line.split()[0]) >= killed_at and line.split()[1] == "200")) - killed_at
    print(f"outage window after SIGKILL of the proxy: {window:.2f}s")
    assert window < 10
    supervisor = poll(lambda: guardian.run_file("supervisor.json"), lambda s: s.get("restarts") == 1, 10)
    assert supervisor["last_exit"] == "was killed by SIGKILL" and supervisor["proxy_pid"] != proxy_pid
    status = json.loads(guardian.call("status.py", "--json").stdout)
    assert status["state"] == "running" and status["proxy_restarts"] == 1
    assert "restarting it" in (guardian.home / "logs" / "monitor.log").read_text()


def test_a_killed_monitor_leaves_the_child_offline_until_start_serves_it_again(guardian, upstream):
    assert guardian.start_with_client(upstream)[0].returncode == 0
    guardian.wait_success_after(0)
    os.kill(int((guardian.home / "run" / "monitor.pid").read_text()), signal.SIGKILL)
    assert poll(lambda: _listening(guardian.port), lambda up: not up, 15) is False  # the proxy went with it
    human = guardian.call("status.py")
    assert human.returncode == 3
    assert b"WARNING: the monitor is down while pid" in human.stdout
    restarted_at = time.monotonic()
    again = guardian.call("start.sh", "--background")
    assert again.returncode == 0, again.stderr.decode(errors="replace")[-2000:]
    assert b"proxy credentials the same as the last start" in again.stderr
    seen = guardian.wait_success_after(restarted_at)
    assert "200" in seen and "407" not in seen  # same credentials, same port: no gateway restart


def test_stop_refuses_while_the_child_runs_and_stops_it_with_with_child(guardian, upstream):
    assert guardian.start_with_client(upstream)[0].returncode == 0
    refused = guardian.call("stop.py")
    assert refused.returncode == 1
    assert b"would lose its network" in refused.stderr and b"--with-child" in refused.stderr
    assert json.loads(guardian.call("status.py", "--json").stdout)["state"] == "running"
    stopped = guardian.call("stop.py", "--with-child")
    assert stopped.returncode == 0, stopped.stderr
    child = poll(lambda: guardian.run_file("child.json"), lambda c: c.get("exit_status") is not None, 10)
    assert child["exit_status"] == 128 + signal.SIGTERM
    assert guardian.call("status.py").returncode == 3


def test_force_stops_the_monitor_and_says_who_is_left_offline(guardian, upstream):
    assert guardian.start_with_client(upstream)[0].returncode == 0
    forced = guardian.call("stop.py", "--force")
    assert forced.returncode == 0
    assert b"keeps running without its proxy" in forced.stderr


def test_new_credentials_rotate_and_the_old_ones_are_refused(guardian, upstream):
    assert guardian.call("start.sh", "--background").returncode == 0
    old_env = dict(line.split("=", 1) for line in guardian.call("proxy-env.sh").stdout.decode().splitlines())
    assert guardian.call("stop.py").returncode == 0
    assert guardian.call("start.sh", "--background", "--new-credentials").returncode == 0
    curl = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", upstream], {**guardian.env, **old_env})
    assert curl.stdout == b"407"
    new_env = dict(line.split("=", 1) for line in guardian.call("proxy-env.sh").stdout.decode().splitlines())
    curl = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", upstream], {**guardian.env, **new_env})
    assert curl.stdout == b"200"


def test_proxy_env_file_is_a_service_environment_that_works(guardian, upstream):
    """What config/systemd/ relies on: <home>/run/proxy.env, 0600, NAME=VALUE lines only."""
    assert guardian.call("start.sh", "--background").returncode == 0
    path = guardian.home / "run" / "proxy.env"
    assert path.stat().st_mode & 0o777 == 0o600
    values = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        assert name.isidentifier() and " " not in value and '"' not in value, line
        values[name] = value
    assert values == dict(line.split("=", 1) for line in guardian.call("proxy-env.sh").stdout.decode().splitlines())
    curl = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", upstream], {**guardian.env, **values})
    assert curl.stdout == b"200"


# -- what goes around the proxy, and where the proxy goes -----------------------------------

class HoldingServer:
    """A TCP server on 127.0.0.1 that answers each request after HOLD seconds: a connection a
    client makes to it stays open long enough for the bypass watch's sampling to see it."""

    HOLD = 3.0

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn):
        with conn:
            conn.recv(65536)
            time.sleep(self.HOLD)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    def close(self):
        self.sock.close()


NODE_FETCH = "fetch(process.argv[1]).then(r => r.text()).then(t => console.log('node got', t))"
RAW_SOCKET = """
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
print(s.recv(100))
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_clients_that_ignore_the_proxy_variables_are_proxy_bypass_findings(guardian, tmp_path):
    server = HoldingServer()
    try:
        assert guardian.call("start.sh", "--background").returncode == 0
        env = {**guardian.env, **dict(line.split("=", 1) for line in
                                      guardian.call("proxy-env.sh").stdout.decode().splitlines())}
        raw = tmp_path / "raw.py"
        raw.write_text(RAW_SOCKET)
        node = subprocess.Popen(["node", "-e", NODE_FETCH, f"http://127.0.0.1:{server.port}/"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        python = subprocess.Popen([sys.executable, str(raw), str(server.port)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for process in (node, python):
            out, err = process.communicate(timeout=60)
            guardian.outputs += [out, err]
            assert process.returncode == 0, err
        pids = {node.pid: "node", python.pid: "python"}
        findings = poll(lambda: findings_of(guardian, "proxy_bypass"),
                        lambda found: {pid_of(f) for f in found} >= set(pids), 20)
        by_pid = {pid_of(f): f for f in findings}
        for pid in pids:
            finding = by_pid[pid]
            assert finding["dest"] == f"127.0.0.1:{server.port}" and finding["severity"] == "medium"
            assert finding["threat_type"] == "POLICY" and finding["variant"] == "tcp"
            assert "directly, not through the monitor" in finding["snippet"]
        assert by_pid[node.pid]["source"] == f"node[{node.pid}]"
        status = json.loads(guardian.call("status.py", "--json").stdout)
        assert status["proxy_bypasses"] >= 2 and status["bypass_watch"] == "on"
    finally:
        server.close()


def test_a_name_resolving_to_the_metadata_address_is_a_private_destination(guardian, upstream):
    """2852039166 is 169.254.169.254 to the system resolver (inet_aton): a name, not an IP literal,
    as urllib sends it; the proxy resolves it and the finding names the address."""
    assert guardian.call("start.sh", "--background").returncode == 0
    env = {**guardian.env, **dict(line.split("=", 1) for line in
                                  guardian.call("proxy-env.sh").stdout.decode().splitlines())}
    fetch = ("import urllib.request, sys\n"
             "try:\n    urllib.request.urlopen(sys.argv[1], timeout=5)\n"
             "except Exception as exc:\n    print(type(exc).__name__)\n")
    for url in ("http://2852039166:1/latest/meta-data/", "http://localhost:1/admin",
                upstream):
        result = run([sys.executable, "-c", fetch, url], env, timeout=60)
        guardian.outputs += [result.stdout, result.stderr]
    findings = poll(lambda: findings_of(guardian, "private_destination"), lambda found: len(found) >= 3, 20)
    by_dest = {f["dest"]: f for f in findings}
    metadata = by_dest["2852039166:1"]
    assert metadata["variant"] == "cloud_metadata" and metadata["severity"] == "high"
    assert "resolves to 169.254.169.254" in metadata["snippet"]
    assert by_dest["localhost:1"]["variant"] == "loopback" and by_dest["localhost:1"]["severity"] == "medium"
    assert upstream.split("//")[1].split("/")[0] in by_dest  # an IP literal: 127.0.0.1:<port>


def pid_of(finding: dict) -> int:
    return int(finding["source"].rsplit("[", 1)[1].rstrip("]"))


def findings_of(guardian, pattern: str) -> list[dict]:
    path = guardian.home / "logs" / "findings.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [f for f in (json.loads(line) for line in lines if line.strip()) if f["pattern"] == pattern]
