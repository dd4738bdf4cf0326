"""Prometheus metrics from the live monitor (issue 20, item 1): the real mitmdump started by
scripts/start.py writes metrics_textfile; traffic with a planted key moves its counters;
`promtool check metrics` (Debian's prometheus package, installed by scripts/test.sh when
root) accepts the file; the last write as the monitor stops says up 0; scripts/metrics.py
prints the same families from the home. No label or value carries the secret.
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fakes
from canary import assert_no_leak
from conftest import run_script
from local_servers import UPSTREAMS_ARE_PUBLIC, AnswerOk, free_port, serving
from scoped_client import run_scoped

pytestmark = pytest.mark.e2e

CLIENT = r'''
import sys, time, urllib.request
url, key, metrics, out = sys.argv[1:5]
opener = urllib.request.build_opener(urllib.request.ProxyHandler())
opener.open(urllib.request.Request(url, data=f"token={key}".encode(), method="POST"), timeout=30).read()
deadline = time.monotonic() + 30
while time.monotonic() < deadline:  # the monitor rewrites the file every 5 s
    try:
        text = open(metrics).read()
    except OSError:
        text = ""
    if 'pattern="github_token"' in text:
        break
    time.sleep(0.5)
open(out, "w").write(text)
'''


def samples(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


def test_the_running_monitor_writes_metrics_that_move_with_traffic(guardian_env, tmp_path):
    key = fakes.github_token()
    home = Path(guardian_env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"])
    metrics = home / "metrics" / "traffic-guardian.prom"
    config = tmp_path / "guardian.json"
    config.write_text(json.dumps({"listen_port": free_port(), **UPSTREAMS_ARE_PUBLIC}))
    (tmp_path / "client.py").write_text(CLIENT)
    seen = tmp_path / "seen.prom"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AnswerOk)
    with serving(server):
        url = f"http://127.0.0.1:{server.server_address[1]}/collect"
        stdout, stderr = run_scoped(guardian_env, config, [sys.executable, str(tmp_path / "client.py"), url, key,
                                                           str(metrics), str(seen)])
    running = samples(seen.read_text())
    assert running["picoclaw_traffic_guardian_up"] == 1
    assert running['picoclaw_traffic_guardian_findings_total{pattern="github_token",severity="high",'
                   'threat_type="EXFIL"}'] == 1
    assert running['picoclaw_traffic_guardian_http_messages_total{direction="outbound"}'] >= 1
    assert running['picoclaw_traffic_guardian_transfer_bytes_total{direction="outbound"}'] > 0
    assert running["picoclaw_traffic_guardian_start_time_seconds"] > 1.7e9
    assert metrics.stat().st_mode & 0o777 == 0o600
    stopped = samples(metrics.read_text())  # the monitor's last write as it stopped
    assert stopped["picoclaw_traffic_guardian_up"] == 0
    printed = run_script("metrics.py", env=guardian_env)
    assert printed.returncode == 0 and samples(printed.stdout.decode())["picoclaw_traffic_guardian_up"] == 0
    if shutil.which("promtool"):
        for text in (seen.read_text(), metrics.read_text()):
            check = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True,
                                   timeout=60)
            assert check.returncode == 0, check.stdout + check.stderr
    assert_no_leak([key], home=home, outputs=[stdout, stderr, printed.stdout, seen.read_bytes()])


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) is not installed")
def test_alert_rules_pass_their_promtool_unit_tests():
    rules = Path(__file__).resolve().parents[2] / "config" / "prometheus"
    check = subprocess.run(["promtool", "check", "rules", str(rules / "guardian-alerts.yml")], capture_output=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = subprocess.run(["promtool", "test", "rules", str(rules / "guardian-alerts.test.yml")],
                           capture_output=True, timeout=60, cwd=rules)
    assert tests.returncode == 0, tests.stdout + tests.stderr


PROMETHEUS_CLIENT = r'''
import json, sys, time, urllib.parse, urllib.request
url, key, prometheus, out = sys.argv[1:5]
proxied = urllib.request.build_opener(urllib.request.ProxyHandler())
direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # Prometheus itself: not through us
proxied.open(urllib.request.Request(url, data=f"token={key}".encode(), method="POST"), timeout=30).read()
query = 'picoclaw_traffic_guardian_findings_total{pattern="github_token"}'
answer, deadline = None, time.monotonic() + 60
while time.monotonic() < deadline:  # the monitor writes every 5 s, Prometheus scrapes every second
    try:
        answer = json.load(direct.open(f"{prometheus}/api/v1/query?query={urllib.parse.quote(query)}", timeout=10))
        if answer["data"]["result"]:
            break
    except OSError:
        pass
    time.sleep(0.5)
up = json.load(direct.open(f"{prometheus}/api/v1/query?query=picoclaw_traffic_guardian_up", timeout=10))
json.dump({"findings": answer, "up": up}, open(out, "w"))
'''


@pytest.mark.skipif(shutil.which("prometheus") is None or shutil.which("prometheus-node-exporter") is None,
                    reason="Debian's prometheus and prometheus-node-exporter are not installed")
def test_prometheus_scrapes_the_findings_through_node_exporters_textfile_collector(guardian_env, tmp_path):
    key = fakes.github_token()
    home = Path(guardian_env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"])
    (home / "metrics").mkdir(parents=True, mode=0o700)
    exporter_port, prometheus_port = free_port(), free_port()
    exporter = subprocess.Popen(["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{exporter_port}",
                                 "--collector.disable-defaults", "--collector.textfile",
                                 f"--collector.textfile.directory={home / 'metrics'}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
        f"  - job_name: guardian\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n")
    prometheus = subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                                   f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{prometheus_port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    config = tmp_path / "guardian.json"
    config.write_text(json.dumps({"listen_port": free_port(), **UPSTREAMS_ARE_PUBLIC}))
    (tmp_path / "client.py").write_text(PROMETHEUS_CLIENT)
    out = tmp_path / "answers.json"
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AnswerOk)
        with serving(server):
            url = f"http://127.0.0.1:{server.server_address[1]}/collect"
            stdout, stderr = run_scoped(guardian_env, config, [sys.executable, str(tmp_path / "client.py"), url, key,
                                                               f"http://127.0.0.1:{prometheus_port}", str(out)])
    finally:
        for process in (prometheus, exporter):
            process.terminate()
            process.wait(timeout=30)
    answers = json.loads(out.read_text())
    [series] = answers["findings"]["data"]["result"]
    assert series["metric"]["severity"] == "high" and series["metric"]["threat_type"] == "EXFIL"
    assert series["value"][1] == "1"
    assert [s["value"][1] for s in answers["up"]["data"]["result"]] == ["1"]
    assert_no_leak([key], home=home, outputs=[stdout, stderr, out.read_bytes()])
