"""scripts/export-profile.py: where the fragment goes, how it is written, and that a consumer
hashing it (as picoclaw-security-guardian does with watched files) sees a change exactly when
the guardian's state changed."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time

import jsonschema

from canary import assert_no_leak
from conftest import run_script
from fakes import openai_project_key
from log_fixtures import spread_findings, write_findings
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import Exchange
from traffic_guardian.detect.redact import Redactor
from traffic_guardian.home.config import BUNDLE_ROOT
from traffic_guardian.home.guardian_home import GuardianHome

SCHEMA = json.loads((BUNDLE_ROOT / "config" / "posture.schema.json").read_text())


def _export(env, *args):
    result = run_script("export-profile.py", *args, env=env)
    assert result.returncode == 0, result.stderr
    return result


def test_output_dash_prints_a_schema_valid_fragment_and_twice_gives_identical_bytes(guardian_env,
                                                                                    guardian_home):
    write_findings(guardian_home, spread_findings(12))
    first = _export(guardian_env, "--output", "-")
    time.sleep(1.1)  # a wall-clock timestamp would now differ
    second = _export(guardian_env, "--output", "-")
    assert first.stdout == second.stdout
    assert first.stderr == second.stderr == b""
    profile = json.loads(first.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(profile)
    assert profile["schema_version"] == "clawsec-traffic-posture/v1" and profile["platform"] == "picoclaw"


def test_default_output_is_in_the_home_0600_and_reports_where_on_stdout(guardian_env, guardian_home):
    result = _export(guardian_env)
    path = guardian_home / "posture" / "traffic-posture.json"
    report = json.loads(result.stdout)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert report == {"output": str(path), "changed": True, "sha256": digest}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")], "temp file left behind"


def test_unchanged_state_is_not_rewritten(guardian_env, guardian_home):
    _export(guardian_env)
    path = guardian_home / "posture" / "traffic-posture.json"
    before = path.stat()
    time.sleep(0.05)
    again = json.loads(_export(guardian_env).stdout)
    assert again["changed"] is False
    assert path.stat().st_mtime_ns == before.st_mtime_ns and path.stat().st_ino == before.st_ino


def test_env_output_override_relative_to_home_and_absolute(guardian_env, guardian_home, tmp_path):
    env = {**guardian_env, "PICOCLAW_TRAFFIC_GUARDIAN_PROFILE_OUTPUT": "reports/posture.json"}
    assert json.loads(_export(env).stdout)["output"] == str(guardian_home / "reports" / "posture.json")
    absolute = tmp_path / "elsewhere.json"
    env["PICOCLAW_TRAFFIC_GUARDIAN_PROFILE_OUTPUT"] = str(absolute)
    _export(env)
    assert stat.S_IMODE(absolute.stat().st_mode) == 0o600


def test_output_flag_wins_over_env_and_config(guardian_env, guardian_home, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"profile_output": "from-config.json"}))
    env = {**guardian_env, "PICOCLAW_TRAFFIC_GUARDIAN_CONFIG": str(config)}
    assert json.loads(_export(env).stdout)["output"] == str(guardian_home / "from-config.json")
    target = tmp_path / "flag.json"
    env["PICOCLAW_TRAFFIC_GUARDIAN_PROFILE_OUTPUT"] = "from-env.json"
    assert json.loads(_export(env, "--output", str(target)).stdout)["output"] == str(target)
    assert json.loads(target.read_bytes())["schema_version"] == "clawsec-traffic-posture/v1"


def test_source_date_epoch_sets_generated_at_and_a_bad_one_is_usage_error(guardian_env):
    env = {**guardian_env, "SOURCE_DATE_EPOCH": "1777200000"}
    assert json.loads(_export(env, "--output", "-").stdout)["generated_at"] == "2026-04-26T10:40:00.000Z"
    env["SOURCE_DATE_EPOCH"] = "next tuesday"
    result = run_script("export-profile.py", "--output", "-", env=env)
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.startswith(b"export-profile.py: SOURCE_DATE_EPOCH=")


def test_refuses_to_write_through_a_symlink(guardian_env, guardian_home, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (guardian_home / "posture").mkdir(parents=True)
    (guardian_home / "posture" / "traffic-posture.json").symlink_to(victim)
    result = run_script("export-profile.py", env=guardian_env)
    assert result.returncode == 1
    assert b"symlink" in result.stderr and len(result.stderr.splitlines()) == 1
    assert victim.read_text() == "keep me"


def test_unwritable_output_is_a_runtime_failure_naming_the_path(guardian_env, tmp_path):
    target = tmp_path / "missing-dir" / "posture.json"
    result = run_script("export-profile.py", "--output", str(target), env=guardian_env)
    assert result.returncode == 1
    assert str(target.parent).encode() in result.stderr and b"Traceback" not in result.stderr


def test_bad_config_is_exit_2(guardian_env, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"listen_host": "0.0.0.0"}))
    result = run_script("export-profile.py", "--config", str(config), env=guardian_env)
    assert result.returncode == 2 and b"listen_host" in result.stderr


def test_help():
    result = run_script("export-profile.py", "--help")
    assert result.returncode == 0 and b"--output" in result.stdout and b"SOURCE_DATE_EPOCH" in result.stdout


def test_profile_and_its_output_hold_no_planted_secret(guardian_env, guardian_home):
    secret = openai_project_key()
    engine = Engine(redactor=Redactor(GuardianHome(guardian_home).fingerprint_key(create=True)))
    write_findings(guardian_home, engine.scan(Exchange(direction="outbound", dest="paste.example.org:443",
                                                       source="127.0.0.1:5", body=f"k={secret}".encode(),
                                                       flow_id="t")))
    outputs = [_export(guardian_env, "--output", "-").stdout, _export(guardian_env).stdout]
    assert b'"ai_api_key": 1' in outputs[0]
    assert_no_leak([secret], guardian_home, outputs)


# -- a consumer: picoclaw-security-guardian ----------------------------------------------------------


class DriftConsumer:
    """What picoclaw-security-guardian does with our fragment: it watches the file by sha256
    fingerprint (any byte change is drift) and reads the fields it reviews."""

    def __init__(self, path):
        self.path = path
        self.baseline: str | None = None

    def observe(self) -> tuple[bool, dict]:
        data = self.path.read_bytes()
        fragment = json.loads(data)
        assert fragment["schema_version"] == "clawsec-traffic-posture/v1"
        assert fragment["platform"] == "picoclaw"
        fingerprint = hashlib.sha256(data).hexdigest()
        drifted = self.baseline is not None and fingerprint != self.baseline
        self.baseline = fingerprint
        return drifted, fragment


def test_a_consumer_hashing_the_fragment_sees_drift_only_on_a_state_change(guardian_env, guardian_home):
    path = guardian_home / "posture" / "traffic-posture.json"
    consumer = DriftConsumer(path)
    write_findings(guardian_home, spread_findings(5))
    _export(guardian_env)
    consumer.observe()

    # No state change: time passes, the log is read and touched, the profile is exported again.
    time.sleep(1.1)
    run_script("query.py", "--since", "7d", env=guardian_env)
    os.utime(guardian_home / "logs" / "findings.jsonl")
    _export(guardian_env)
    assert consumer.observe()[0] is False

    # A state change: a new finding.
    write_findings(guardian_home, spread_findings(1))
    _export(guardian_env)
    drifted, fragment = consumer.observe()
    assert drifted is True
    assert fragment["findings"]["total"] == 6

    # And nothing again.
    _export(guardian_env)
    assert consumer.observe()[0] is False

    # A config change is a state change too.
    (guardian_home / "config.json").write_text(json.dumps({"log_backups": 7}))
    _export(guardian_env)
    drifted, fragment = consumer.observe()
    assert drifted is True and fragment["limits"]["log_backups"] == 7
