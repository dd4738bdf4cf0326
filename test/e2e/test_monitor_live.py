"""The live monitor end to end (issue 3): real mitmdump started by scripts/start.sh, real
clients (curl, Python http.client / urllib, websockets) to local upstreams on 127.0.0.1.

Two monitors are shared across the module where that is safe: one plain (HTTPS tunnelled,
not inspected) and one with per-process HTTPS inspection. Lifecycle tests start their own.
Every monitor is stopped by stop.py and, should that fail, killed by pid in a finalizer.
Every planted secret is generated here and swept for in every home and every captured
output, per test and once more at the end.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import fakes
from canary import assert_no_leak
from conftest import BUNDLE, SCRIPTS
from processes import children_of, rss_kib

sys.path.insert(0, str(SCRIPTS))
from demo_upstream import INJECTION_PAYLOAD, Upstreams  # noqa: E402

from local_servers import UPSTREAMS_ARE_PUBLIC, free_port
from polling import poll
from traffic_guardian.home.egress_inventory import inventory_path, read_inventory  # noqa: E402
from traffic_guardian.home.guardian_home import GuardianHome  # noqa: E402
from traffic_guardian.home.run_files import (  # noqa: E402
    ADDON_FILE,
    MONITOR_ENTRY,
    monitor_status,
    process_start_time,
    write_run_files,
)

pytestmark = pytest.mark.e2e

SCAN_BOUND = 65536
PLANTED: list[str] = []  # every secret any test planted: the final sweep looks for all of them
OUTPUTS: list[bytes] = []  # every output captured from our scripts and clients
HOMES: list[Path] = []
PROXY_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy", "NODE_USE_ENV_PROXY")
TRUST_NAMES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")


def plant(secret: str) -> str:
    PLANTED.append(secret)
    return secret


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PICOCLAW_") and k not in PROXY_NAMES + TRUST_NAMES and k.lower() != "all_proxy"}
    env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"] = str(home)
    env["PICOCLAW_HOME"] = str(home.parent / "picoclaw")
    return env


def run(argv: list[str], env: dict, timeout: float = 90, input: bytes | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, env=env, capture_output=True, timeout=timeout, input=input)
    OUTPUTS.extend([result.stdout, result.stderr])
    return result


def script(name: str, *args: str) -> list[str]:
    return ["bash", str(SCRIPTS / name), *args] if name.endswith(".sh") else [sys.executable, str(SCRIPTS / name),
                                                                                *args]


class Monitor:
    """One guardian home with its config; start() runs start.sh, stop() stop.py (plus kill by pid)."""

    def __init__(self, root: Path, config: dict):
        self.home = root / "home"
        self.home.mkdir(parents=True)
        HOMES.append(self.home)
        self.port = free_port()
        self.config_path = root / "config.json"
        self.config_path.write_text(json.dumps({"listen_port": self.port, **UPSTREAMS_ARE_PUBLIC, **config}))
        self.env = clean_env(self.home)
        self.env["PICOCLAW_TRAFFIC_GUARDIAN_CONFIG"] = str(self.config_path)
        self.pids: list[tuple[int, int | None]] = []

    @property
    def guardian_home(self) -> GuardianHome:
        return GuardianHome(self.home)

    def start(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
        result = run(script("start.sh", *args), self.env, timeout)
        self.remember_pid()
        return result

    def remember_pid(self) -> None:
        status = monitor_status(self.guardian_home)
        if status.pid:
            self.pids.append((status.pid, status.info.get("process_start_time")))

    def stop(self) -> None:
        run(script("stop.py"), self.env, 60)
        for pid, started in self.pids:  # stop.py failed us: kill what we started, by pid
            if started is not None and process_start_time(pid) == started:
                os.kill(pid, signal.SIGKILL)

    def proxy_env(self) -> dict[str, str]:
        """The caller's clean env plus what scripts/proxy-env.sh prints, for one client."""
        printed = run(script("proxy-env.sh"), self.env, 30)
        assert printed.returncode == 0, printed.stderr
        env = dict(self.env)
        self.printed_names = []
        for line in printed.stdout.decode().splitlines():
            name, _, value = line.partition("=")
            env[name] = value
            self.printed_names.append(name)
        return env

    def proxy_auth(self) -> str:
        creds = json.loads((self.home / "run" / "proxy-credentials.json").read_text())
        return "Basic " + base64.b64encode(f"{creds['username']}:{creds['password']}".encode()).decode()

    @property
    def findings_log(self) -> Path:
        return self.home / "logs" / "findings.jsonl"

    def findings(self) -> list[dict]:
        try:
            return [json.loads(line) for line in self.findings_log.read_text().splitlines() if line.strip()]
        except FileNotFoundError:
            return []

    def wait_findings(self, predicate, count: int = 1, timeout: float = 20) -> list[dict]:
        return poll(lambda: [f for f in self.findings() if predicate(f)], lambda found: len(found) >= count, timeout)

    def egress_entry(self, dest: str, timeout: float = 15) -> dict:
        """dest's entry in the egress inventory (run/egress.json), waiting for the monitor to save it."""
        entries = poll(lambda: {e["dest"]: e for e in read_inventory(inventory_path(self.guardian_home))},
                       lambda found: dest in found, timeout)
        return entries.get(dest, {})


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory):
    servers = Upstreams(tmp_path_factory.mktemp("upstream"))
    yield servers
    servers.stop()


@pytest.fixture(scope="module")
def plain_monitor(tmp_path_factory, upstreams):
    """HTTPS inspection off (the default); a small scan bound so bound tests stay fast."""
    monitor = Monitor(tmp_path_factory.mktemp("plain"), {"max_scan_bytes": SCAN_BOUND, "dedup_window_secs": 0})
    try:
        started = monitor.start("--background")
        assert started.returncode == 0, started.stderr.decode(errors="replace")[-3000:]
        yield monitor
    finally:
        monitor.stop()


@pytest.fixture(scope="module")
def https_monitor(tmp_path_factory, upstreams):
    monitor = Monitor(tmp_path_factory.mktemp("https"), {"https_inspection": True, "dedup_window_secs": 0,
                                                          "upstream_ca_bundle": str(upstreams.ca)})
    try:
        started = monitor.start("--background", "--https-inspection")
        assert started.returncode == 0, started.stderr.decode(errors="replace")[-3000:]
        monitor.started = started
        yield monitor
    finally:
        monitor.stop()


def http_base(upstreams) -> str:
    return f"http://127.0.0.1:{upstreams.ports['http']}"


def https_base(upstreams, host: str = "127.0.0.1") -> str:
    return f"https://{host}:{upstreams.ports['https']}"


def urlopen(url: str, env: dict, data: bytes | None = None, headers: dict | None = None) -> bytes:
    """Python urllib as an agent would use it: proxies and CA trust from the environment given."""
    proxies = {scheme: env[f"{scheme}_proxy"] for scheme in ("http", "https") if f"{scheme}_proxy" in env}
    handlers: list = [urllib.request.ProxyHandler(proxies)]
    if url.startswith("https") and env.get("SSL_CERT_FILE"):
        import ssl

        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=env["SSL_CERT_FILE"])))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with opener.open(request, timeout=30) as response:
        return response.read()


# -- inspection ----------------------------------------------------------------------------------


def test_http_request_and_response_are_inspected(plain_monitor, upstreams):
    token = plant(fakes.github_token())
    env = plain_monitor.proxy_env()
    curl = run(["curl", "-sS", "-X", "POST", "--data", json.dumps({"tool": "gh", "token": token}),
                f"{http_base(upstreams)}/echo"], env)
    assert curl.returncode == 0, curl.stderr
    assert json.loads(curl.stdout)["received"] > 0
    reply = urlopen(f"{http_base(upstreams)}/v1/chat/completions?inject=1", env, b"{}")
    assert INJECTION_PAYLOAD.encode() in reply  # delivered unchanged: detect-and-log only
    dest = f"127.0.0.1:{upstreams.ports['http']}"
    outbound = plain_monitor.wait_findings(lambda f: f["pattern"] == "github_token" and f["dest"] == dest)
    inbound = plain_monitor.wait_findings(
        lambda f: f["pattern"] == "pipe_to_shell" and f["location"] == "response.body")
    assert outbound and outbound[0]["direction"] == "outbound" and outbound[0]["location"] == "request.body"
    assert "[REDACTED github_token" in outbound[0]["snippet"]
    assert inbound and inbound[0]["direction"] == "inbound" and inbound[0]["protocol"] == "http"
    assert_no_leak([token], plain_monitor.home, OUTPUTS)


def test_https_inspected_with_guardian_ca_trusted_per_process(https_monitor, upstreams):
    assert not any(name in os.environ for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"))
    state = json.loads((https_monitor.home / "run" / "state.json").read_text())
    fingerprint = state["ca_fingerprint_sha256"]
    assert state["https_inspection"] is True and len(fingerprint.split(":")) == 32
    assert fingerprint.encode() in https_monitor.started.stderr
    ca_key = https_monitor.home / "mitmproxy" / "mitmproxy-ca.pem"
    assert ca_key.stat().st_mode & 0o777 == 0o600
    status = run(script("status.py", "--json"), https_monitor.env)
    assert status.returncode == 0 and json.loads(status.stdout)["ca_fingerprint_sha256"] == fingerprint

    env = https_monitor.proxy_env()
    bundle = Path(env["SSL_CERT_FILE"])
    assert bundle == https_monitor.home / "ca" / "trust-bundle.pem"
    assert env["REQUESTS_CA_BUNDLE"] == env["CURL_CA_BUNDLE"] == env["NODE_EXTRA_CA_CERTS"] == str(bundle)
    key = plant(fakes.anthropic_key())
    curl = run(["curl", "-sS", "--fail", "-X", "POST", "--data", f"api_key={key}", f"{https_base(upstreams)}/echo"],
               env)
    assert curl.returncode == 0, curl.stderr  # curl trusted the guardian CA only through CURL_CA_BUNDLE
    reply = urlopen(f"{https_base(upstreams)}/v1/chat/completions?inject=1", env, b"{}")
    assert INJECTION_PAYLOAD.encode() in reply
    found = https_monitor.wait_findings(lambda f: f["protocol"] == "https", count=2)
    assert {(f["pattern"], f["direction"]) for f in found} >= {("ai_api_key", "outbound"),
                                                                ("pipe_to_shell", "inbound")}
    # Without the per-process bundle a client does not trust the guardian CA.
    untrusted = run(["curl", "-sS", "--fail", f"{https_base(upstreams)}/echo"],
                    {k: v for k, v in env.items() if k not in ("CURL_CA_BUNDLE", "SSL_CERT_FILE")})
    assert untrusted.returncode != 0
    assert_no_leak([key], https_monitor.home, OUTPUTS)


def test_an_upstream_whose_certificate_fails_is_a_finding_and_counted(tmp_path, upstreams):
    """SPEC section 10: a private upstream missing from upstream_ca_bundle is not only a line in monitor.log."""
    monitor = Monitor(tmp_path, {"https_inspection": True, "dedup_window_secs": 60})
    try:
        assert monitor.start("--background", "--https-inspection").returncode == 0
        env = monitor.proxy_env()
        for _ in range(2):
            curl = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", f"{https_base(upstreams)}/echo"], env)
            assert curl.stdout == b"502"  # mitmproxy refused the upstream's certificate
        dest = f"127.0.0.1:{upstreams.ports['https']}"
        found = monitor.wait_findings(lambda f: f["pattern"] == "upstream_tls_error")
        assert len(found) == 1 and found[0]["dest"] == dest and found[0]["severity"] == "info"
        assert found[0]["threat_type"] == "POLICY" and "certificate" in found[0]["snippet"].lower()
        report = poll(lambda: json.loads(run(script("status.py", "--json"), monitor.env).stdout),
                      lambda r: (r["upstream_tls_errors"] or 0) >= 2, 15)
        assert report["upstream_tls_errors"] == 2 and dest in report["last_upstream_tls_error"]
        human = run(script("status.py"), monitor.env).stdout
        assert b"upstream TLS errors (requests not forwarded): 2" in human
    finally:
        monitor.stop()


def test_https_passthrough_when_inspection_off_records_destination(plain_monitor, upstreams):
    key = plant(fakes.openai_project_key())
    env = plain_monitor.proxy_env()
    assert sorted(plain_monitor.printed_names) == sorted(PROXY_NAMES)  # no CA handed out when not inspecting
    dest = f"localhost:{upstreams.ports['https']}"
    before = len(plain_monitor.findings())
    # The client verifies the upstream itself: the tunnel carries its TLS untouched.
    curl = run(["curl", "-sS", "--fail", "--cacert", str(upstreams.ca), "-X", "POST", "--data", f"note={key}",
                f"{https_base(upstreams, 'localhost')}/echo"], env)
    assert curl.returncode == 0, curl.stderr
    assert json.loads(curl.stdout)["received"] == len(f"note={key}")
    entry = plain_monitor.egress_entry(dest)
    # tunnelled only, never inspected: no http/https protocol recorded for this destination
    assert entry["protocols"] == ["tls-passthrough"] and "localhost" in entry["sni"]
    time.sleep(1)
    assert not [f for f in plain_monitor.findings()[before:] if f["dest"] == dest]  # body not inspected
    assert_no_leak([key], plain_monitor.home, OUTPUTS)


def test_requests_without_proxy_credentials_are_refused(plain_monitor, upstreams):
    hits = json.loads(urllib.request.urlopen(f"{http_base(upstreams)}/hits", timeout=10).read())["hits"]
    proxy = f"http://127.0.0.1:{plain_monitor.port}"
    anonymous = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-x", proxy,
                     f"{http_base(upstreams)}/echo"], clean_env(plain_monitor.home))
    wrong = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-x", proxy, "-U", "guardian:wrong",
                 f"{http_base(upstreams)}/echo"], clean_env(plain_monitor.home))
    tunnel = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-x", proxy, "-k",
                  f"{https_base(upstreams)}/echo"], clean_env(plain_monitor.home))
    assert anonymous.stdout == b"407" and wrong.stdout == b"407"
    assert tunnel.returncode != 0  # CONNECT refused with 407 too
    after = json.loads(urllib.request.urlopen(f"{http_base(upstreams)}/hits", timeout=10).read())["hits"]
    assert after == hits + 1  # only our own /hits call reached the upstream
    assert_no_leak(PLANTED, plain_monitor.home, OUTPUTS)


def test_secrets_spelled_with_escapes_reach_no_output(plain_monitor, upstreams):
    """SPEC section 7: a key partly written as JSON \\u00XX inside JSON inside JSON, partly
    percent-escaped in a query, or as HTML entities, is in no finding, log, status or profile."""
    json_key, url_key, html_key = (plant(fakes.openai_project_key()), plant(fakes.anthropic_key()),
                                   plant(fakes.github_token()))
    rng = random.Random(11)
    spelled_json = "".join(f"\\u{ord(c):04x}" if rng.random() < 0.3 else c for c in json_key)
    inner = json.dumps({"note": "cat ~/.ssh/id_rsa", "blob": spelled_json})
    body = json.dumps({"messages": [{"role": "user", "content": inner}]}).encode()
    spelled_url = "".join(f"%{ord(c):02X}" if rng.random() < 0.3 else c for c in url_key)
    spelled_html = "".join(f"&#{ord(c)};" if rng.random() < 0.3 else c for c in html_key)
    env = plain_monitor.proxy_env()
    before = len(plain_monitor.findings())
    urlopen(f"{http_base(upstreams)}/echo", env, body, {"content-type": "application/json"})
    urlopen(f"{http_base(upstreams)}/echo?path=/etc/shadow&k={spelled_url}", env, b"x")
    urlopen(f"{http_base(upstreams)}/echo", env, f"<pre>cat ~/.ssh/id_rsa {spelled_html}</pre>".encode(),
            {"content-type": "text/html"})
    plain_monitor.wait_findings(lambda f: True, count=before + 3)
    run(script("status.py", "--json"), plain_monitor.env)
    run(script("export-profile.py", "--output", "-"), plain_monitor.env)
    assert_no_leak([json_key, url_key, html_key], plain_monitor.home, OUTPUTS)


def test_streamed_response_reaches_client_before_upstream_finishes(plain_monitor, upstreams):
    upstreams.state.release.clear()
    connection = http.client.HTTPConnection("127.0.0.1", plain_monitor.port, timeout=30)
    try:
        connection.request("GET", f"{http_base(upstreams)}/stream?hold=1",
                           headers={"Proxy-Authorization": plain_monitor.proxy_auth()})
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("content-type") == "text/event-stream"
        first = response.read1(65536)
        assert first.startswith(b"data: ")
        # The upstream is still holding the rest of its answer, yet the client has the start.
        assert not upstreams.state.stream_finished.is_set()
        upstreams.state.release.set()
        rest = response.read()
    finally:
        connection.close()
    assert b"[DONE]" in first + rest
    found = plain_monitor.wait_findings(lambda f: f["pattern"] == "pipe_to_shell"
                                        and f["location"].startswith("response.stream"))
    assert found, "the stream's bounded copy was scanned when it ended"
    assert_no_leak(PLANTED, plain_monitor.home, OUTPUTS)


def test_body_larger_than_max_scan_bytes_arrives_intact(plain_monitor, upstreams):
    env = plain_monitor.proxy_env()
    size = SCAN_BOUND * 16
    download = run(["curl", "-sS", "--fail", "-D", "-", f"{http_base(upstreams)}/big?bytes={size}"], env)
    assert download.returncode == 0
    headers, _, body = download.stdout.partition(b"\r\n\r\n")
    assert len(body) == size
    assert hashlib.sha256(body).hexdigest().encode() in headers.lower()
    token = plant(fakes.github_token())
    upload = token.encode() + os.urandom(size)  # the secret sits inside the scanned bound
    reply = json.loads(urlopen(f"{http_base(upstreams)}/echo", env, upload,
                               {"Content-Type": "application/octet-stream"}))
    assert reply == {"received": len(upload), "sha256": hashlib.sha256(upload).hexdigest()}
    assert plain_monitor.wait_findings(lambda f: f["pattern"] == "github_token" and f["location"] == "request.body"
                                       and f.get("snippet", "").find("fp=") > 0)
    assert_no_leak([token], plain_monitor.home, OUTPUTS)


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate", "zstd"])
def test_compressed_response_bodies_are_inspected(plain_monitor, upstreams, encoding):
    env = plain_monitor.proxy_env()

    def body_injection(finding):
        return finding["pattern"] == "pipe_to_shell" and finding["location"] == "response.body"

    before = len([f for f in plain_monitor.findings() if body_injection(f)])
    raw = urlopen(f"{http_base(upstreams)}/encoded?enc={encoding}", env)
    assert INJECTION_PAYLOAD.encode() not in raw  # the client got the encoded bytes untouched
    # Scanning runs after the answer is on its way (scan queue): wait for this answer's finding.
    assert len(plain_monitor.wait_findings(body_injection, count=before + 1)) == before + 1
    assert_no_leak(PLANTED, plain_monitor.home, OUTPUTS)


def test_gzip_request_body_is_inspected(plain_monitor, upstreams):
    key = plant(fakes.aws_access_key_id())
    env = plain_monitor.proxy_env()
    body = gzip.compress(json.dumps({"aws_access_key_id": key}).encode())
    reply = json.loads(urlopen(f"{http_base(upstreams)}/echo", env, body,
                               {"Content-Encoding": "gzip", "Content-Type": "application/json"}))
    assert reply["sha256"] == hashlib.sha256(body).hexdigest()  # forwarded compressed, as sent
    assert plain_monitor.wait_findings(lambda f: f["pattern"] == "aws_access_key" and f["location"] == "request.body")
    assert_no_leak([key], plain_monitor.home, OUTPUTS)


def test_gzip_bomb_passes_without_inflating_in_the_monitor(plain_monitor, upstreams):
    env = plain_monitor.proxy_env()
    result = run(["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download}",
                  f"{http_base(upstreams)}/bomb"], env, timeout=120)
    assert result.returncode == 0 and int(result.stdout) > 0
    monitor = monitor_status(plain_monitor.guardian_home).pid
    scanners = children_of(monitor)
    assert scanners, "the monitor runs a scanner process"
    # Answers come in order: once a later response's finding is written, the bomb was scanned.
    def body_injection(finding):
        return finding["pattern"] == "pipe_to_shell" and finding["location"] == "response.body"

    before = len([f for f in plain_monitor.findings() if body_injection(f)])
    urlopen(f"{http_base(upstreams)}/encoded?enc=gzip", env)
    assert len(plain_monitor.wait_findings(body_injection, count=before + 1)) == before + 1
    for pid in (monitor, *scanners):  # the scanner process inflates what it scans
        peak_kib = rss_kib(pid, "VmHWM")
        assert 0 < peak_kib < 256 * 1024, f"process {pid} peaked at {peak_kib} KiB: the 256 MiB bomb was inflated"
    assert_no_leak(PLANTED, plain_monitor.home, OUTPUTS)


def test_websocket_messages_inspected_by_direction(plain_monitor, upstreams):
    from websockets.sync.client import connect

    token = plant(fakes.slack_bot_token())
    env = plain_monitor.proxy_env()
    with connect(f"ws://127.0.0.1:{upstreams.ports['websocket']}/", proxy=env["http_proxy"],
                 open_timeout=30) as ws:
        ws.send(json.dumps({"notify": token}))
        assert ws.recv(timeout=30).startswith("echo")
        ws.send("inject")
        assert ws.recv(timeout=30) == INJECTION_PAYLOAD
    found = plain_monitor.wait_findings(lambda f: f["location"] == "websocket.message", count=2)
    assert {(f["pattern"], f["direction"]) for f in found} >= {("slack_token", "outbound"),
                                                                ("pipe_to_shell", "inbound")}
    assert all(f["protocol"] == "websocket" for f in found)
    assert_no_leak([token], plain_monitor.home, OUTPUTS)


def test_status_reports_a_running_monitor(plain_monitor):
    status = run(script("status.py", "--json", "--last", "2"), plain_monitor.env)
    assert status.returncode == 0
    report = json.loads(status.stdout)
    assert report["state"] == "running" and report["listen"] == f"127.0.0.1:{plain_monitor.port}"
    assert report["https_inspection"] is False and report["ca_fingerprint_sha256"] is None
    assert report["mode"] == "detect" and report["uptime_seconds"] >= 0 and len(report["last_findings"]) <= 2
    human = run(script("status.py"), plain_monitor.env)
    assert human.returncode == 0 and b"running" in human.stdout
    assert_no_leak(PLANTED, plain_monitor.home, OUTPUTS)  # status prints the last findings


# -- lifecycle -----------------------------------------------------------------------------------


def test_second_start_is_refused(plain_monitor):
    again = run(script("start.sh", "--background"), plain_monitor.env)
    assert again.returncode == 1
    assert b"already running" in again.stderr
    assert monitor_status(plain_monitor.guardian_home).running
    assert_no_leak(PLANTED, plain_monitor.home, OUTPUTS)


def test_bad_config_refuses_to_start(tmp_path):
    monitor = Monitor(tmp_path, {"mode": "block"})
    result = monitor.start("--background")
    assert result.returncode == 2 and b"mode" in result.stderr
    assert not (monitor.home / "run" / "monitor.pid").exists()
    assert monitor_status(monitor.guardian_home).state == "stopped"
    flagless = Monitor(tmp_path / "flag", {})
    refused = flagless.start("--background", "--https-inspection")  # flag without config consent
    assert refused.returncode == 2 and not (flagless.home / "run" / "monitor.pid").exists()
    assert_no_leak(PLANTED, tmp_path, OUTPUTS)


def test_busy_port_and_missing_mitmdump_fail_with_the_reason(tmp_path):
    monitor = Monitor(tmp_path, {})
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", monitor.port))
        busy.listen()
        result = monitor.start("--background")
    assert result.returncode == 1 and b"cannot listen on 127.0.0.1" in result.stderr
    system_python = shutil.which("python3", path="/usr/bin:/bin")
    if system_python and subprocess.run([system_python, "-c", "import sys, mitmproxy; sys.exit(0)"],
                                        capture_output=True).returncode != 0 and \
            subprocess.run([system_python, "-c", "import sys; sys.exit(sys.version_info < (3, 11))"]).returncode == 0:
        missing = run([system_python, str(SCRIPTS / "start.py"), "--background"], monitor.env)
        assert missing.returncode == 1 and b"mitmdump is missing" in missing.stderr
    assert monitor_status(monitor.guardian_home).state == "stopped"
    assert_no_leak(PLANTED, monitor.home, OUTPUTS)


def _write_fake_state(home: GuardianHome, pid: int, start_time: int | None) -> None:
    write_run_files(home, {"pid": pid, "process_start_time": start_time, "proxy_url": "http://127.0.0.1:1"})


def test_stale_pidfile_is_cleaned_and_a_reused_pid_is_never_signalled(tmp_path):
    monitor = Monitor(tmp_path, {})
    home = monitor.guardian_home
    # 1. process gone
    gone = subprocess.Popen(["true"])
    gone.wait()
    _write_fake_state(home, gone.pid, 1)
    status = run(script("status.py"), monitor.env)
    assert status.returncode == 3 and b"stale" in status.stdout
    stopped = run(script("stop.py"), monitor.env)
    assert stopped.returncode == 0 and json.loads(stopped.stdout)["outcome"] == "stale-cleaned"
    assert not (monitor.home / "run" / "state.json").exists()
    # 2. the pid now belongs to another program (right start time, wrong command line)
    # 3. a process that looks like our monitor but started at another time than recorded
    other = subprocess.Popen(["sleep", "300"])
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", str(MONITOR_ENTRY),
                              str(ADDON_FILE), f"guardian_home={monitor.home}"])
    try:
        for pid, recorded in ((other.pid, None), (decoy.pid, None)):
            deadline = time.monotonic() + 10
            while process_start_time(pid) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            recorded = process_start_time(pid)
            _write_fake_state(home, pid, recorded if pid == other.pid else recorded + 1)
            assert monitor_status(home).state == "stale"
            stopped = run(script("stop.py", "--timeout", "1"), monitor.env)
            assert stopped.returncode == 0 and json.loads(stopped.stdout)["outcome"] == "stale-cleaned"
            assert process_start_time(pid) is not None, "a process that is not our monitor was signalled"
        # With the recorded start time right, the decoy is indistinguishable from ours: both checks matter.
        _write_fake_state(home, decoy.pid, process_start_time(decoy.pid))
        assert monitor_status(home).state == "running"
    finally:
        for process in (other, decoy):
            process.kill()
            process.wait()
    assert_no_leak(PLANTED, monitor.home, OUTPUTS)


def test_foreground_with_command_scopes_the_child_and_stops_after(tmp_path, upstreams):
    monitor = Monitor(tmp_path, {"dedup_window_secs": 0})
    key = plant(fakes.github_token())
    child = (
        "import json, os, sys, urllib.request\n"
        f"names = {list(PROXY_NAMES)!r}\n"
        "print(json.dumps(sorted(n for n in names if n in os.environ)))\n"
        f"urllib.request.urlopen('{http_base(upstreams)}/echo?token={key}', data=b'{{}}', timeout=30).read()\n"
        "sys.exit(7)\n"
    )
    result = monitor.start("--", sys.executable, "-c", child)
    assert result.returncode == 7, result.stderr.decode(errors="replace")[-2000:]
    assert json.loads(result.stdout.splitlines()[0]) == sorted(PROXY_NAMES)
    assert monitor_status(monitor.guardian_home).state == "stopped"
    kept = monitor.home / "run" / "proxy-credentials.json"  # for the next start: a restart keeps clients working
    assert kept.exists() and kept.stat().st_mode & 0o777 == 0o600
    for pid, started in monitor.pids:
        assert process_start_time(pid) != started
    assert [f for f in monitor.findings() if f["pattern"] == "github_token" and f["location"] == "request.url"]
    assert_no_leak([key], monitor.home, OUTPUTS)


def test_foreground_runs_until_interrupted_then_cleans_up(tmp_path):
    monitor = Monitor(tmp_path, {})
    starter = subprocess.Popen(script("start.sh"), env=monitor.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not monitor_status(monitor.guardian_home).running or not _accepts(monitor.port):
            assert starter.poll() is None and time.monotonic() < deadline, "foreground monitor did not come up"
            time.sleep(0.1)
        monitor.remember_pid()
        starter.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = starter.communicate(timeout=60)
        OUTPUTS.extend([out, err])
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait()
        monitor.stop()
    assert starter.returncode == 0, err.decode(errors="replace")[-2000:]
    assert json.loads(out.splitlines()[0])["background"] is False
    assert monitor_status(monitor.guardian_home).state == "stopped"
    for name in ("monitor.pid", "state.json", "counters.json", "supervisor.json"):
        assert not (monitor.home / "run" / name).exists(), name
    assert all(process_start_time(pid) != started for pid, started in monitor.pids)
    assert_no_leak(PLANTED, monitor.home, OUTPUTS)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_background_with_command_runs_curl_and_keeps_the_monitor(tmp_path, upstreams):
    monitor = Monitor(tmp_path, {})
    key = plant(fakes.stripe_live_key())
    try:
        child_log = tmp_path / "child.log"
        result = monitor.start("--background", "--child-log", str(child_log), "--", "curl", "-sS", "--fail",
                               "--data", f"k={key}", f"{http_base(upstreams)}/echo")
        assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
        child = poll(lambda: json.loads((monitor.home / "run" / "child.json").read_text()),
                     lambda record: record.get("exit_status") is not None, 30)
        assert child["exit_status"] == 0 and child["comm"] == "curl"
        assert json.loads(child_log.read_text())["received"] == len(f"k={key}")
        OUTPUTS.append(child_log.read_bytes())
        assert monitor_status(monitor.guardian_home).running
        assert monitor.wait_findings(lambda f: f["pattern"] == "stripe_key")
    finally:
        monitor.stop()
    assert monitor_status(monitor.guardian_home).state == "stopped"
    assert_no_leak([key], monitor.home, OUTPUTS)


def test_demo_shows_findings_and_leaves_nothing_running(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in PROXY_NAMES and not k.startswith("PICOCLAW_")}
    env["TMPDIR"] = str(tmp_path)
    result = run(["bash", str(SCRIPTS / "demo.sh")], env, timeout=150)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
    findings = [json.loads(line) for line in result.stdout.decode().splitlines() if line.startswith("{")]
    assert {"EXFIL", "INJECTION"} <= {f["threat_type"] for f in findings}
    assert b"guardian CA SHA-256" in result.stderr
    leftovers = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(tmp_path).encode() in (proc / "cmdline").read_bytes():
                    leftovers.append(proc.name)
            except OSError:
                continue
    assert not leftovers, f"demo left processes behind: {leftovers}"
    assert not list(tmp_path.iterdir()), "demo left its temporary home behind"


def test_zz_no_planted_secret_anywhere(upstreams):
    """The canary sweep over everything the module wrote or printed, monitor logs included."""
    assert PLANTED
    for home in HOMES:
        assert_no_leak(PLANTED, home, OUTPUTS)
    assert_no_leak(PLANTED, None, [p.read_bytes() for p in BUNDLE.glob("*.log")])
