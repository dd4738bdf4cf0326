"""Smoke test of bench/: the scripts parse their flags, the corpus is what the bench claims,
and the local upstream answers. Timing is never asserted; the real runs are bench/run.sh."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import corpus  # noqa: E402
import detector  # noqa: E402
import proxy  # noqa: E402


@pytest.mark.parametrize("script", ["detector.py", "proxy.py", "upstream.py", "ab.py", "instructions.py"])
def test_bench_scripts_have_help(script):
    done = subprocess.run([sys.executable, str(BENCH / script), "--help"], capture_output=True, timeout=30)
    assert done.returncode == 0 and b"usage" in done.stdout


def test_run_sh_rejects_unknown_mode():
    done = subprocess.run(["bash", str(BENCH / "run.sh"), "--fast"], capture_output=True, timeout=30)
    assert done.returncode == 2 and b"--quick or --full" in done.stderr


def test_mixed_corpus_is_64k_documents_with_planted_secrets_found():
    samples = corpus.mixed_corpus(copies=1)
    assert {len(s.text.encode()) for s in samples} == {corpus.SIZE}
    assert {"llm_request_json", "prose", "html", "base64_vision_request"} <= {s.name for s in samples}
    engine = detector.Engine()
    found = [f for s in samples for f in engine.scan(detector.exchange_of(s))]
    assert {f.pattern for f in found} >= {"ai_api_key", "aws_access_key"}


def test_adversarial_inputs_cover_every_rule():
    samples = corpus.adversarial_corpus(full=False)
    covered = {s.name.split("/", 1)[0] for s in samples}
    assert {rule.rule_id for rule in corpus.RULESET} <= covered
    assert all(len(s.text.encode()) == corpus.SIZE for s in samples)


def test_upstream_answers_small_echo_and_sse():
    server = subprocess.Popen([sys.executable, str(BENCH / "upstream.py")], stdout=subprocess.PIPE)
    try:
        port = json.loads(server.stdout.readline())["port"]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/small")
        assert connection.getresponse().read() == b"hello, bench\n"
        connection.request("POST", "/echo", body=b"x" * 70000)
        assert len(connection.getresponse().read()) == 64 * 1024
        assert proxy.sse_first_byte_ms(port, None) >= 0
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_wrk_script_targets_upstream_through_proxy_with_credentials(tmp_path):
    script = proxy.wrk_script(tmp_path, "guardian", "POST", "/echo", 8080, ("guardian", "pw")).read_text()
    assert 'wrk.path = "http://127.0.0.1:8080/echo"' in script
    assert "Proxy-Authorization" in script and "wrk.body = body" in script


def test_each_way_gets_its_own_wrk_script_with_its_own_credentials(tmp_path):
    # Once bare mitmdump ran the monitor's script (same file name) and answered every request 407.
    bare = proxy.wrk_script(tmp_path, "bare", "POST", "/echo", 8080, ("guardian", "bare-pw"))
    guardian = proxy.wrk_script(tmp_path, "guardian", "POST", "/echo", 8080, ("guardian", "monitor-pw"))
    assert bare != guardian and bare.read_text() != guardian.read_text()


def test_monitor_rss_counts_its_child_processes():
    import os
    import subprocess

    child = subprocess.Popen(["sleep", "5"])
    try:
        assert child.pid in proxy._children(os.getpid())
        assert proxy.rss_mb(os.getpid()) > proxy._own_rss_mb(os.getpid())
    finally:
        child.kill()
        child.wait()
