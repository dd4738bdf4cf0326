"""scripts/query.py: every filter against a generated, rotated log, held against the same filter
in plain Python and, where jq is installed, in jq; follow across rotation; bad lines; memory."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from canary import assert_no_leak
from conftest import SCRIPTS, run_script
from fakes import openai_project_key
from log_fixtures import compact_line, ids, jsonl, spread_findings, write_findings, writer_for
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import Exchange
from traffic_guardian.detect.finding import SEVERITY_RANK, utc_timestamp
from traffic_guardian.detect.redact import Redactor
from traffic_guardian.home.guardian_home import GuardianHome
from traffic_guardian.home.run_files import ADDON_FILE, MONITOR_ENTRY, process_start_time, write_run_files
from traffic_guardian.home.writer import log_files
from traffic_guardian.report.formatting import format_table_header

JQ = shutil.which("jq")
needs_jq = pytest.mark.skipif(JQ is None, reason="jq is not on PATH (scripts/test.sh installs it if it can)")
FINDINGS = 1600  # 7-minute steps: about 7.8 days, so 7d excludes the oldest


def _clean_env(home: Path) -> dict:
    proxies = ("http_proxy", "https_proxy", "no_proxy", "all_proxy")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICOCLAW_") and k.lower() not in proxies}
    env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"] = str(home)
    env["PICOCLAW_HOME"] = str(home.parent / "picoclaw")
    return env


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A home whose log holds FINDINGS findings over ~7.8 days, rotated into many files."""
    home = tmp_path_factory.mktemp("query") / "home"
    now = datetime.now(UTC)
    findings = spread_findings(FINDINGS, now)
    live = write_findings(home, findings, max_bytes=64 * 1024, backups=50)
    assert len(log_files(live)) > 5
    return {"home": home, "env": _clean_env(home), "now": now, "live": live,
            "records": [f.to_dict() for f in findings]}


def _ago(now: datetime, **delta) -> str:
    return utc_timestamp(now - timedelta(**delta))


def _glob_host(suffix: str):
    return lambda f: f["dest"].rsplit(":", 1)[0].endswith(suffix)


# (query.py arguments, plain-Python predicate, jq condition, limit) built from "now" and the log.
def _cases(now: datetime, records: list[dict]):
    at = [r["timestamp"] for r in records]
    sev = ["info", "low", "medium", "high", "critical"]
    severity_at_least = 'select(.severity as $s | ' + str(sev).replace("'", '"') + ' | index($s) >= {})'
    return {
        "since 1h": (["--since", "1h"], lambda f: f["timestamp"] >= _ago(now, hours=1),
                     f'select(.timestamp >= "{_ago(now, hours=1)}")', None),
        "since 15m": (["--since", "15m"], lambda f: f["timestamp"] >= _ago(now, minutes=15),
                      f'select(.timestamp >= "{_ago(now, minutes=15)}")', None),
        "since 7d": (["--since", "7d"], lambda f: f["timestamp"] >= _ago(now, days=7),
                     f'select(.timestamp >= "{_ago(now, days=7)}")', None),
        "since 2h until 15m": (["--since", "2h", "--until", "15m"],
                               lambda f: _ago(now, hours=2) <= f["timestamp"] < _ago(now, minutes=15),
                               f'select(.timestamp >= "{_ago(now, hours=2)}" '
                               f'and .timestamp < "{_ago(now, minutes=15)}")', None),
        "iso window is [since, until)": (["--since", at[800], "--until", at[900]],
                                         lambda f: at[800] <= f["timestamp"] < at[900],
                                         f'select(.timestamp >= "{at[800]}" and .timestamp < "{at[900]}")',
                                         None),
        "severity high": (["--severity", "high"], lambda f: SEVERITY_RANK[f["severity"]] >= 3,
                          severity_at_least.format(3), None),
        "severity info is everything": (["--severity", "INFO"], lambda f: True, "select(true)", None),
        "type INJECTION": (["--type", "INJECTION"], lambda f: f["threat_type"] == "INJECTION",
                           'select(.threat_type == "INJECTION")', None),
        "type list, any case": (["--type", "exfil,policy"], lambda f: f["threat_type"] in ("EXFIL", "POLICY"),
                                'select(.threat_type == "EXFIL" or .threat_type == "POLICY")', None),
        "pattern": (["--pattern", "ai_api_key"], lambda f: f["pattern"] == "ai_api_key",
                    'select(.pattern == "ai_api_key")', None),
        "pattern repeated": (["--pattern", "jwt", "--pattern", "dotenv_file"],
                             lambda f: f["pattern"] in ("jwt", "dotenv_file"),
                             'select(.pattern == "jwt" or .pattern == "dotenv_file")', None),
        "direction inbound": (["--direction", "inbound"], lambda f: f["direction"] == "inbound",
                              'select(.direction == "inbound")', None),
        "dest host glob": (["--dest", "*.example.com"], _glob_host(".example.com"),
                           r'select(.dest | sub(":[0-9]+$"; "") | test("\\.example\\.com$"))', None),
        "dest host:port glob": (["--dest", "127.0.0.1:*"], lambda f: f["dest"].startswith("127.0.0.1:"),
                                'select(.dest | startswith("127.0.0.1:"))', None),
        "limit": (["--limit", "5"], lambda f: True, "select(true)", 5),
        "severity critical, last 3": (["--severity", "critical", "--limit", "3"],
                                      lambda f: f["severity"] == "critical",
                                      severity_at_least.format(4), 3),
        "everything at once": (["--since", "1d", "--severity", "medium", "--type", "EXFIL",
                                "--dest", "*.example.*", "--direction", "outbound", "--limit", "7"],
                               lambda f: (f["timestamp"] >= _ago(now, days=1)
                                          and SEVERITY_RANK[f["severity"]] >= 2
                                          and f["threat_type"] == "EXFIL" and ".example." in f["dest"]
                                          and f["direction"] == "outbound"),
                               f'select(.timestamp >= "{_ago(now, days=1)}") | {severity_at_least.format(2)} '
                               '| select(.threat_type == "EXFIL" and (.dest | test("\\\\.example\\\\."))) '
                               '| select(.direction == "outbound")', 7),
    }


CASE_NAMES = list(_cases(datetime.now(UTC), [{"timestamp": ""}] * FINDINGS))


def _expected(history, name):
    args, predicate, jq_condition, limit = _cases(history["now"], history["records"])[name]
    selected = [r for r in history["records"] if predicate(r)]
    return args, (selected[-limit:] if limit else selected), jq_condition, limit


@pytest.mark.parametrize("name", CASE_NAMES)
def test_filter_selects_exactly_what_the_rule_says(history, name):
    args, expected, _jq, _limit = _expected(history, name)
    result = run_script("query.py", *args, env=history["env"])
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert ids(jsonl(result.stdout)) == ids(expected)
    assert expected, f"case {name!r} selects nothing: the fixture does not exercise it"


@needs_jq
@pytest.mark.parametrize("name", CASE_NAMES)
def test_filter_agrees_with_the_same_filter_in_jq(history, name):
    args, _expected_records, jq_condition, limit = _expected(history, name)
    program = f"map({jq_condition})" + (f" | .[-{limit}:]" if limit else "") + " | .[]"
    files = [str(p) for p in log_files(history["live"])]
    by_jq = subprocess.run([JQ, "-c", "-s", program, *files], capture_output=True, timeout=60)
    assert by_jq.returncode == 0, by_jq.stderr
    by_query = run_script("query.py", *args, env=history["env"])
    assert ids(jsonl(by_query.stdout)) == ids(jsonl(by_jq.stdout))


@needs_jq
def test_acceptance_pipeline_since_1h_severity_high_into_jq(history):
    query = f'"{sys.executable}" "{SCRIPTS / "query.py"}"'
    command = f"set -o pipefail; {query} --since 1h --severity high | jq -r .pattern"
    result = subprocess.run(["bash", "-c", command], env=history["env"], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    expected = [r["pattern"] for r in history["records"]
                if r["timestamp"] >= _ago(history["now"], hours=1) and SEVERITY_RANK[r["severity"]] >= 3]
    assert result.stdout.decode().split() == expected and expected


def test_output_is_one_json_object_per_line_preserving_the_finding(history):
    result = run_script("query.py", "--limit", "2", env=history["env"])
    assert jsonl(result.stdout) == history["records"][-2:]


def test_table_format_has_the_shared_header_and_one_row_per_finding(history):
    result = run_script("query.py", "--limit", "3", "--format", "table", env=history["env"])
    lines = result.stdout.decode().splitlines()
    assert lines[0] == format_table_header()
    assert len(lines) == 4
    for line, record in zip(lines[1:], history["records"][-3:], strict=True):
        assert line.startswith(record["timestamp"]) and record["dest"] in line


def test_table_with_no_match_still_prints_the_header(history):
    result = run_script("query.py", "--pattern", "upstream_tls_error", "--format", "table", env=history["env"])
    assert result.returncode == 0 and result.stdout.decode().splitlines() == [format_table_header()]


@pytest.mark.parametrize(("flag", "value", "named"), [
    ("--type", "EXFILL", "EXFIL, INJECTION, POLICY"),
    ("--pattern", "ai_api_keys", "ai_api_key"),
    ("--pattern", "ai_api_key,nope", "known_secret"),
])
def test_an_unknown_type_or_pattern_is_bad_usage_naming_the_known_ones(history, flag, value, named):
    """A misspelt filter matches nothing and would read as an all-clear."""
    result = run_script("query.py", flag, value, env=history["env"])
    assert result.returncode == 2 and result.stdout == b""
    (line,) = result.stderr.decode().splitlines()
    assert line.startswith(f"query.py: {flag}: unknown ") and named in line


def test_log_dir_reads_another_directory(history, tmp_path):
    elsewhere = tmp_path / "copied"
    elsewhere.mkdir()
    for path in log_files(history["live"]):
        shutil.copy(path, elsewhere / path.name)
    result = run_script("query.py", "--log-dir", str(elsewhere), "--limit", "4",
                        env=_clean_env(tmp_path / "empty-home"))
    assert ids(jsonl(result.stdout)) == ids(history["records"][-4:])


def test_default_log_is_the_running_monitors(guardian_env, guardian_home):
    """A monitor started with another config logs elsewhere; its state file says where."""
    home = GuardianHome(guardian_home)
    marks = [str(MONITOR_ENTRY), str(ADDON_FILE), f"guardian_home={home.root}"]
    monitor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", *marks])
    try:
        other = write_findings(guardian_home / "elsewhere", spread_findings(3))
        write_findings(guardian_home, spread_findings(1))
        start = None
        while start is None:
            start = process_start_time(monitor.pid)
        write_run_files(home, {"pid": monitor.pid, "process_start_time": start, "findings_log": str(other)})
        assert len(jsonl(run_script("query.py", env=guardian_env).stdout)) == 3
    finally:
        monitor.kill()
        monitor.wait()


def test_corrupt_and_truncated_lines_are_skipped_and_counted_on_stderr(guardian_env, guardian_home):
    findings = spread_findings(4)
    live = write_findings(guardian_home, findings[:2])
    with open(live, "ab") as handle:
        handle.write(b"{not json at all\n")
    write_findings(guardian_home, findings[2:])
    with open(live, "ab") as handle:
        handle.write(findings[0].to_json()[:50].encode())  # crash mid-write: no newline
    result = run_script("query.py", env=guardian_env)
    assert result.returncode == 0
    assert ids(jsonl(result.stdout)) == [f.finding_id for f in findings]
    err = result.stderr.decode()
    assert "2 unreadable lines skipped (1 corrupt, 1 truncated)" in err
    assert len(err.splitlines()) == 1 and err.startswith("query.py: ")


def test_no_log_yet_is_an_empty_result_not_an_error(guardian_env):
    result = run_script("query.py", "--since", "1h", env=guardian_env)
    assert result.returncode == 0 and result.stdout == b""
    assert b"no findings log" in result.stderr


@pytest.mark.parametrize(("args", "names"), [
    (["--since", "yesterday"], b"--since"),
    (["--until", "2026-13-40"], b"--until"),
    (["--severity", "severe"], b"--severity"),
    (["--limit", "0"], b"--limit"),
    (["--limit", "many"], b"--limit"),
    (["--direction", "sideways"], b"--direction"),
    (["--format", "xml"], b"--format"),
])
def test_bad_usage_exits_2_naming_the_flag(guardian_env, args, names):
    result = run_script("query.py", *args, env=guardian_env)
    assert result.returncode == 2
    assert names in result.stderr
    assert b"Traceback" not in result.stderr


def test_bad_config_exits_2(guardian_env, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"mode": "block"}')
    result = run_script("query.py", "--config", str(bad), env=guardian_env)
    assert result.returncode == 2 and b"mode" in result.stderr


def test_a_closed_pipe_ends_quietly(history):
    command = f'"{sys.executable}" "{SCRIPTS / "query.py"}" | head -n 1'
    result = subprocess.run(["bash", "-c", command], env=history["env"], capture_output=True, timeout=60)
    assert len(result.stdout.splitlines()) == 1
    assert b"Traceback" not in result.stderr and b"Broken pipe" not in result.stderr


def test_help():
    result = run_script("query.py", "--help")
    assert result.returncode == 0 and b"--since" in result.stdout and b"--follow" in result.stdout


# -- follow -------------------------------------------------------------------------------------


class _Lines:
    """Lines of a child's stdout as they arrive, readable with a timeout."""

    def __init__(self, stream):
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.thread.start()

    def _pump(self, stream):
        for line in stream:
            self.queue.put(line)
        self.queue.put(None)

    def take(self, count: int, timeout: float = 30) -> list[bytes]:
        deadline = time.monotonic() + timeout
        got = []
        while len(got) < count:
            try:
                line = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            got.append(line)
        return got


def _start_follow(env, *args):
    return subprocess.Popen([sys.executable, str(SCRIPTS / "query.py"), "--follow", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_follow_streams_new_findings_across_rotation_and_stops_cleanly(guardian_env, guardian_home,
                                                                       stop_signal):
    old = spread_findings(3)
    write_findings(guardian_home, old, max_bytes=64 * 1024, backups=5)
    process = _start_follow(guardian_env, "--severity", "info")
    try:
        lines = _Lines(process.stdout)
        assert ids(jsonl(b"".join(lines.take(3)))) == [f.finding_id for f in old]  # history first
        writer = writer_for(guardian_home, max_bytes=64 * 1024, backups=5)
        new = spread_findings(400)  # ~3 rotations of 64 KiB
        for index, finding in enumerate(new):
            writer.write(finding)
            if index % 100 == 0:
                time.sleep(0.05)
        writer.close()
        streamed = jsonl(b"".join(lines.take(len(new))))
        assert ids(streamed) == [f.finding_id for f in new]
        assert len(log_files(guardian_home / "logs" / "findings.jsonl")) > 2
        process.send_signal(stop_signal)
        assert process.wait(timeout=10) == 0
        err = process.stderr.read()
        assert b"Traceback" not in err and b"KeyboardInterrupt" not in err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_follow_applies_filters_to_new_findings(guardian_env, guardian_home):
    process = _start_follow(guardian_env, "--type", "INJECTION")
    try:
        lines = _Lines(process.stdout)
        new = spread_findings(14)
        time.sleep(0.3)
        write_findings(guardian_home, new)
        expected = [f.finding_id for f in new if f.threat_type == "INJECTION"]
        assert ids(jsonl(b"".join(lines.take(len(expected))))) == expected
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- memory ---------------------------------------------------------------------------------------

_MEASURE = """
import resource, runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit:
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def _peak_rss_kib(log_dir: Path, env: dict) -> tuple[int, bytes]:
    command = [sys.executable, "-c", _MEASURE, str(SCRIPTS / "query.py"), "--log-dir", str(log_dir),
               "--severity", "high", "--limit", "10"]
    result = subprocess.run(command, env=env, capture_output=True, timeout=180)
    assert result.returncode == 0, result.stderr
    return int(result.stderr.decode().split()[-1]), result.stdout


def test_memory_stays_constant_on_a_log_of_a_million_lines(tmp_path, guardian_env):
    """Peak RSS of query.py --limit over 1,000,000 lines stays within a few MiB of 1,000 lines."""
    sizes = {"small": 1000, "large": 1_000_000}
    for name, count in sizes.items():
        directory = tmp_path / name
        directory.mkdir()
        block = b"".join(compact_line(("high", "low")[i % 2]) for i in range(1000))
        with open(directory / "findings.jsonl", "wb") as handle:
            for _ in range(count // 1000):
                handle.write(block)
    small_rss, _ = _peak_rss_kib(tmp_path / "small", guardian_env)
    large_rss, out = _peak_rss_kib(tmp_path / "large", guardian_env)
    assert len(out.splitlines()) == 10
    assert large_rss - small_rss < 8 * 1024, f"peak RSS {large_rss} KiB (1M lines) vs {small_rss} KiB (1k)"


# -- redaction ------------------------------------------------------------------------------------


def test_query_output_never_holds_a_planted_secret(guardian_env, guardian_home):
    secret = openai_project_key()
    engine = Engine(redactor=Redactor(GuardianHome(guardian_home).fingerprint_key(create=True)))
    exchange = Exchange(direction="outbound", dest="paste.example.org:443", source="127.0.0.1:5",
                        body=f"note: {secret}".encode(), flow_id="t1")
    findings = engine.scan(exchange)
    assert findings
    write_findings(guardian_home, findings)
    outputs = []
    for args in ([], ["--format", "table"], ["--pattern", "ai_api_key", "--since", "1h"]):
        result = run_script("query.py", *args, env=guardian_env)
        assert result.returncode == 0
        outputs += [result.stdout, result.stderr]
    assert b"ai_api_key" in outputs[0]
    assert_no_leak([secret], guardian_home, outputs)
