"""Local attackers: other users and programs on the same host.

- the listener binds 127.0.0.1 only (its sockets inspected in /proc; no traffic is ever sent
  to a non-loopback address), and no config or environment value can move it elsewhere;
- a request without the per-start proxy credentials (missing, wrong, malformed, or on a
  streamed body) gets 407 and never reaches the upstream;
- after a real run the home is 0700 (every directory) and 0600 (every file), the state file
  holds no secret, and the proxy password is in no file but the credentials file and no argv;
- a symlink planted at any path the guardian writes is not followed and is reported;
- config values cannot inject arguments into the mitmdump command line.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from monitor_fixtures import LOOPBACK, free_port, live_monitor_fixture, upstream_fixture  # noqa: F401 - fixtures

import fakes
from conftest import SCRIPTS, run_script
from traffic_guardian.control.launch import choose_endpoint, monitor_argv
from traffic_guardian.home.config import KEY_SPECS, ConfigError, load_config
from traffic_guardian.home.run_files import ADDON_FILE, MONITOR_ENTRY


def secret_post(monitor, upstream) -> int:
    key = fakes.openai_project_key()
    monitor.planted.append(key)
    status, _ = monitor.request("POST", upstream.base + "/upload", body=f"note={key}".encode(),
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    return status


# -- the listener -------------------------------------------------------------------------


def listening_addresses(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket pid listens on, from /proc/<pid>/fd and /proc/net/tcp{,6}."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        with open(table) as handle:
            next(handle)
            for line in handle:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state != "0A" or inode not in inodes:  # 0A: LISTEN
                    continue
                address_hex, port_hex = local.split(":")
                raw = bytes.fromhex(address_hex)
                # /proc prints the address as host-order 32-bit words
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.append((socket.inet_ntop(family, raw), int(port_hex, 16)))
    return found


@pytest.mark.e2e
def test_the_listener_is_bound_to_loopback_only(live_monitor, upstream):
    monitor = live_monitor()
    monitor.assert_serves(upstream)
    addresses = listening_addresses(monitor.proxy_pid)
    assert addresses == [(LOOPBACK, monitor.port)], addresses


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", "127.0.0.1.evil",
                                  "", " 127.0.0.1"])
def test_no_config_value_moves_the_listener_off_loopback(guardian_env, guardian_home, tmp_path, host):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"listen_host": host, "listen_port": free_port()}))
    validated = run_script("validate.py", "--config", str(config), env=guardian_env)
    assert validated.returncode == 2 and b"listen_host" in validated.stderr
    started = run_script("start.py", "--background", "--config", str(config), env=guardian_env)
    assert started.returncode == 2 and b"listen_host" in started.stderr
    assert not (guardian_home / "run" / "state.json").exists()


@pytest.mark.parametrize("url", ["http://0.0.0.0:18777", "http://[::]:18777", "http://192.168.1.10:18777"])
def test_no_proxy_url_override_moves_the_listener_off_loopback(guardian_env, url):
    env = {**guardian_env, "PICOCLAW_TRAFFIC_GUARDIAN_PROXY_URL": url}
    validated = run_script("validate.py", env=env)
    assert validated.returncode == 2 and b"listen_host" in validated.stderr


# -- proxy credentials ----------------------------------------------------------------------


@pytest.mark.e2e
def test_requests_without_the_proxy_credentials_get_407_and_reach_nothing(live_monitor, upstream):
    monitor = live_monitor()
    target = upstream.base + "/ok"
    host = upstream.base.removeprefix("http://")
    wrong = "Basic " + base64.b64encode(f"{monitor.username}:not-the-password".encode()).decode()
    bad_bytes = "Basic " + base64.b64encode(b"gu\xe1rdian:\xff\xfe").decode()
    cases = {
        "no credentials": f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n",
        "wrong password": f"GET {target} HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: {wrong}\r\n\r\n",
        "not UTF-8": f"GET {target} HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: {bad_bytes}\r\n\r\n",
        "not base64": f"GET {target} HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: Basic %%%\r\n\r\n",
        "credentials in the wrong header": f"GET {target} HTTP/1.1\r\nHost: {host}\r\n"
                                           f"Authorization: {monitor.proxy_authorization}\r\n\r\n",
        "CONNECT": f"CONNECT {host} HTTP/1.1\r\nHost: {host}\r\n\r\n",
        "chunked POST (a streamed body)": f"POST {target} HTTP/1.1\r\nHost: {host}\r\n"
                                          "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "large POST (a streamed body)": f"POST {target} HTTP/1.1\r\nHost: {host}\r\n"
                                        f"Content-Length: {1 << 20}\r\n\r\n" + "x" * (1 << 20),
    }
    before = upstream.requests
    for name, request in cases.items():
        answer = monitor.raw(request.encode("latin-1"), read_timeout=5)
        monitor.outputs.append(answer)
        assert answer.startswith(b"HTTP/1.1 407"), f"{name}: {answer[:80]!r}"
    assert upstream.requests == before  # nothing reached the upstream
    monitor.assert_serves(upstream, "with the credentials")
    assert monitor.crash_lines() == []


# -- the home after a real run --------------------------------------------------------------------


@pytest.mark.e2e
def test_home_is_0700_files_0600_and_no_secret_outside_the_credentials_file(live_monitor, upstream,
                                                                            guardian_home):
    monitor = live_monitor({"dedup_window_secs": 0})
    assert secret_post(monitor, upstream) == 200
    monitor.wait_counters(lambda c: c.get("findings_written") == 1)
    monitor.outputs.append(subprocess.run(["bash", str(SCRIPTS / "proxy-env.sh")], env=monitor.env,
                                          capture_output=True, timeout=30).stderr)
    for script in ("status.py", "query.py", "export-profile.py"):
        assert monitor.script(script).returncode == 0, script
    argv = Path(f"/proc/{monitor.pid}/cmdline").read_bytes()

    checked = 0
    for directory, names, files in os.walk(guardian_home):
        assert os.stat(directory).st_mode & 0o777 == 0o700, directory
        for name in names + files:
            path = Path(directory) / name
            assert not path.is_symlink(), path
            if path.is_file() and path != guardian_home / "config.json":  # the operator's file, not ours
                checked += 1
                assert path.stat().st_mode & 0o777 == 0o600, path
    assert checked >= 8

    password = monitor.password.encode()
    holders = [str(path.relative_to(guardian_home)) for path in guardian_home.rglob("*")
               if path.is_file() and password in path.read_bytes()]
    assert sorted(holders) == ["run/proxy-credentials.json", "run/proxy.env"]  # both 0600, checked above
    assert password not in argv
    state = (guardian_home / "run" / "state.json").read_text()
    assert monitor.password not in state and "password" not in state.lower()
    assert all(secret not in state for secret in monitor.planted)


# -- planted symlinks ---------------------------------------------------------------------------

# Everything start.py and the monitor write, relative to the home (SPEC section 3 and 10).
START_PATHS = ["run/state.json", "run/monitor.pid", "run/counters.json", "run/proxyauth.htpasswd",
               "run/proxy-credentials.json", "run/proxy.env", "run/supervisor.json", "run/child.json",
               "run/.start.lock", "run/egress.json", "run/known-secrets.json",
               "fingerprint.key", "logs/findings.jsonl", "logs/.findings.jsonl.lock", "logs/monitor.log",
               "ca/trust-bundle.pem", "mitmproxy/mitmproxy-ca.pem", "mitmproxy/mitmproxy-ca-cert.pem",
               "mitmproxy/config.yaml", "run", "logs"]


@pytest.mark.parametrize("relative", START_PATHS)
def test_a_symlink_planted_where_start_writes_is_reported_and_not_followed(guardian_env, guardian_home,
                                                                           tmp_path, relative):
    victim = tmp_path / "victim"
    victim.write_text("victim\n")
    victim_dir = tmp_path / "victim-dir"
    victim_dir.mkdir()
    link = guardian_home / relative
    link.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    link.symlink_to(victim_dir if relative in ("run", "logs") else victim)
    (guardian_home / "config.json").write_text(json.dumps({"listen_port": free_port(), "https_inspection": True}))
    started = run_script("start.py", "--background", "--https-inspection", env=guardian_env, timeout=90)
    try:
        lines = started.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and b"Traceback" not in started.stderr, lines
        if started.returncode == 2:  # a state path from the config (log_dir, ca_bundle) leads out through it
            assert "resolves outside the guardian home" in lines[0], lines
        else:
            assert started.returncode == 1 and str(link) in lines[0] and "symlink" in lines[0], lines
    finally:
        run_script("stop.py", env=guardian_env)
    assert victim.read_text() == "victim\n" and list(victim_dir.iterdir()) == []
    assert link.is_symlink()


@pytest.mark.e2e
@pytest.mark.parametrize("relative", ["logs/findings.jsonl", "run/counters.json"])
def test_a_symlink_planted_while_running_is_not_followed_and_is_reported(live_monitor, upstream, guardian_home,
                                                                       tmp_path, relative):
    monitor = live_monitor({"dedup_window_secs": 0})
    assert secret_post(monitor, upstream) == 200
    monitor.wait_counters(lambda c: c.get("findings_written") == 1)
    victim = tmp_path / "victim"
    victim.write_text("victim\n")
    link = guardian_home / relative
    link.unlink()
    link.symlink_to(victim)
    assert secret_post(monitor, upstream) == 200
    monitor.assert_serves(upstream, f"with a symlink at {relative}")
    if relative == "logs/findings.jsonl":
        counters = monitor.wait_counters(lambda c: c.get("write_errors", 0) >= 1)
        assert "symlink" in counters["last_write_error"]
        assert "symlink" in monitor.status()["last_write_error"]
    else:
        log = guardian_home / "logs" / "monitor.log"
        deadline = time.monotonic() + 10
        while f"{link}: is a symlink" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert f"{link}: is a symlink" in log.read_text()
    assert victim.read_text() == "victim\n"
    assert link.is_symlink()


def test_a_symlink_planted_at_the_profile_output_is_reported_and_not_followed(guardian_env, guardian_home,
                                                                             tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("victim\n")
    link = guardian_home / "posture" / "traffic-posture.json"
    link.parent.mkdir(parents=True, mode=0o700)
    link.symlink_to(victim)
    exported = run_script("export-profile.py", env=guardian_env)
    assert exported.returncode == 1 and str(link).encode() in exported.stderr
    assert victim.read_text() == "victim\n"


# -- argument injection ---------------------------------------------------------------------------

INJECTIONS = ["--set=scripts=evil.py", "-s evil.py", "-s", "--mode=transparent", "x\n-s evil.py",
              "--listen-host=0.0.0.0", "; touch /tmp/pwned", "$(touch /tmp/pwned)"]


def _shape(argv: list[str]) -> list[str]:
    """The option structure of a mitmdump argv: options in order, each --set by its name only."""
    shape = []
    for index, arg in enumerate(argv[2:], start=2):
        if arg.startswith("-"):
            shape.append(arg)
        elif argv[index - 1] == "--set":
            shape.append("set:" + arg.partition("=")[0])
        elif argv[index - 1] == "-s":
            shape.append("script:" + arg)
    return shape


def _injected_configs(tmp_path: Path):
    """(key, value) for every string-valued key (and strings inside lists and objects), every payload."""
    for key, spec in KEY_SPECS.items():
        kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
        for payload in INJECTIONS:
            if str in kinds:
                yield key, payload
            elif list in kinds:
                yield key, [payload]
            elif dict in kinds:
                yield key, {"openai": [payload]}


def test_config_values_cannot_inject_arguments_into_the_mitmdump_command_line(guardian_env, guardian_home,
                                                                             tmp_path, monkeypatch):
    baseline = load_config(None, guardian_env)
    expected = _shape(monitor_argv(baseline, baseline.home, False, choose_endpoint(baseline, baseline.home, True)))
    assert expected.count("-s") == 1 and f"script:{ADDON_FILE}" in expected
    outcomes = {"rejected": 0, "inert": 0}
    config_file = tmp_path / "config.json"
    for key, value in _injected_configs(tmp_path):
        config_file.write_text(json.dumps({key: value}))
        try:
            config = load_config(str(config_file), guardian_env)
        except ConfigError:
            outcomes["rejected"] += 1
            continue
        argv = monitor_argv(config, config.home, False, choose_endpoint(config, config.home, True))
        assert _shape(argv) == expected, (key, value, argv)
        assert argv[:2] == [sys.executable, str(MONITOR_ENTRY)]
        outcomes["inert"] += 1
    assert outcomes["rejected"] and outcomes["inert"]
    # the home path and the config path are in argv too: one element each, whatever they hold
    odd_home = tmp_path / "-s evil.py --set scripts=evil.py"
    env = {**guardian_env, "PICOCLAW_TRAFFIC_GUARDIAN_HOME": str(odd_home)}
    config = load_config(None, env)
    assert _shape(monitor_argv(config, config.home, False, choose_endpoint(config, config.home, True))) == expected


@pytest.mark.e2e
def test_a_live_monitor_with_hostile_paths_loads_only_its_addon(guardian_env, tmp_path):
    """A home and a log_dir named like options: the monitor starts, runs only the guardian addon,
    and an evil.py next to it (which would leave a marker if imported) never runs."""
    marker = tmp_path / "pwned"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    home = tmp_path / "--set=scripts=evil.py -s evil.py"
    env = {**guardian_env, "PICOCLAW_TRAFFIC_GUARDIAN_HOME": str(home)}
    home.mkdir(mode=0o700)
    port = free_port()
    (home / "config.json").write_text(json.dumps({"listen_port": port, "log_dir": "-s evil.py"}))
    started = subprocess.run([sys.executable, str(SCRIPTS / "start.py"), "--background"], env=env, cwd=tmp_path,
                             capture_output=True, timeout=90)
    try:
        assert started.returncode == 0, started.stderr.decode(errors="replace")[-2000:]
        pid = json.loads(started.stdout)["pid"]
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert argv.count(b"-s") == 1 and argv[argv.index(b"-s") + 1] == str(ADDON_FILE).encode()
        assert (home / "-s evil.py").is_dir()  # the odd log_dir is just a directory name in the home
    finally:
        subprocess.run([sys.executable, str(SCRIPTS / "stop.py")], env=env, capture_output=True, timeout=60)
    assert not marker.exists()
