"""posture: the clawsec-traffic-posture/v1 fragment is schema-valid in every monitor state,
deterministic (same state, same bytes), and holds nothing secret."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from canary import assert_no_leak
from fakes import openai_project_key, rand
from log_fixtures import log_bytes, spread_findings, write_findings
from traffic_guardian import VERSION
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import Exchange
from traffic_guardian.detect.redact import Redactor
from traffic_guardian.detect.rules import PATTERN_IDS, RULESET, ruleset_digest
from traffic_guardian.home.config import BUNDLE_ROOT, load_config
from traffic_guardian.home.guardian_home import GuardianHome
from traffic_guardian.home.run_files import ADDON_FILE, MONITOR_ENTRY, process_start_time, write_run_files
from traffic_guardian.report.posture import (
    EPOCH,
    POSTURE_SCHEMA,
    PostureError,
    build_profile,
    ca_fingerprint,
    render_profile,
)

SCHEMA = json.loads((BUNDLE_ROOT / "config" / "posture.schema.json").read_text())


def _validate(profile: dict) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(profile)


def _profile(env: dict | None = None) -> dict:
    return build_profile(load_config(), env=env if env is not None else {})


@pytest.fixture
def fake_monitor(guardian_home):
    """A process that passes run_files.py's identity check for this home (not mitmdump: the
    profile only reads the run files), stopped at teardown."""
    home = GuardianHome(guardian_home)
    marks = [str(MONITOR_ENTRY), str(ADDON_FILE), f"guardian_home={home.root}"]
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", *marks])
    try:
        yield home, process
    finally:
        process.kill()
        process.wait()


def _run_state(home: GuardianHome, pid: int, **extra) -> dict:
    start = None
    for _ in range(100):  # /proc/<pid>/stat appears as soon as the process exists
        start = process_start_time(pid)
        if start is not None:
            break
    state = {"pid": pid, "process_start_time": start, "started_at": "2026-04-26T10:00:00.000Z",
             "listen": "127.0.0.1:18777", "https_inspection": True, "mode": "detect",
             "config_sha256": "ab" * 32, **extra}
    write_run_files(home, state)
    return state


# -- shape -----------------------------------------------------------------------------------------


def test_empty_home_gives_a_valid_stopped_profile(guardian_env):
    profile = _profile()
    _validate(profile)
    assert profile["schema_version"] == POSTURE_SCHEMA == "clawsec-traffic-posture/v1"
    assert profile["platform"] == "picoclaw"
    assert profile["monitor_status"] == "stopped"
    assert profile["listen"] is None and profile["https_inspection"] is False
    assert profile["mode"] == "detect"
    assert profile["skill_version"] == VERSION
    assert profile["ruleset_digest"] == ruleset_digest(RULESET)
    assert profile["pattern_ids"] == list(PATTERN_IDS)
    assert profile["config_sha256"] == load_config().sha256()
    assert profile["finding_log_sha256"] == hashlib.sha256(b"").hexdigest()
    assert profile["findings"]["total"] == 0 and profile["last_finding_at"] is None
    assert (profile["generated_at"], profile["generated_at_source"]) == (EPOCH, "none")


def test_findings_are_counted_by_severity_type_and_pattern(guardian_env, guardian_home):
    findings = spread_findings(21)
    write_findings(guardian_home, findings)
    profile = _profile()
    _validate(profile)
    counts = profile["findings"]
    assert counts["total"] == 21
    assert counts["by_severity"] == {"info": 3, "low": 3, "medium": 3, "high": 6, "critical": 6}
    assert counts["by_type"] == {"EXFIL": 12, "INJECTION": 6, "POLICY": 3}
    assert counts["by_pattern"]["reverse_shell"] == 3
    assert counts["suppressed"] == 10
    assert profile["last_finding_at"] == findings[-1].timestamp
    assert profile["finding_log"]["unreadable_lines"] == 0


def test_finding_log_sha256_hashes_the_retained_files_oldest_first_as_one_stream(guardian_env, guardian_home):
    live = write_findings(guardian_home, spread_findings(400), max_bytes=64 * 1024, backups=50)
    with open(live, "ab") as handle:
        handle.write(b"corrupt line\n")
    profile = _profile()
    stream = log_bytes(live)
    assert profile["finding_log_sha256"] == hashlib.sha256(stream).hexdigest()
    assert profile["finding_log"]["bytes"] == len(stream)
    assert profile["finding_log"]["files"] > 2
    assert profile["finding_log"]["unreadable_lines"] == 1


def test_running_monitor_reports_its_listen_address_inspection_and_config(guardian_env, fake_monitor):
    home, process = fake_monitor
    _run_state(home, process.pid)
    profile = _profile()
    _validate(profile)
    assert profile["monitor_status"] == "running"
    assert profile["listen"] == "127.0.0.1:18777"
    assert profile["https_inspection"] is True
    assert profile["config_sha256"] == "ab" * 32  # the config the monitor runs with
    assert profile["monitor_started_at"] == "2026-04-26T10:00:00.000Z"
    assert "pid" not in json.dumps(profile)


def test_running_monitor_log_is_the_one_its_state_names_when_inside_the_home(guardian_env, fake_monitor,
                                                                             tmp_path):
    home, process = fake_monitor
    other = write_findings(home.root / "other", spread_findings(4))  # <home>/other/logs/findings.jsonl
    write_findings(home.root, spread_findings(1))  # the configured log
    _run_state(home, process.pid, findings_log=str(other))
    assert _profile()["findings"]["total"] == 4
    outside = write_findings(tmp_path / "outside", spread_findings(2))
    _run_state(home, process.pid, findings_log=str(outside))
    assert _profile()["findings"]["total"] == 1  # a path outside the home is not followed


def test_listen_never_carries_proxy_credentials(guardian_env, fake_monitor):
    home, process = fake_monitor
    password = rand(24)
    _run_state(home, process.pid, listen=None, proxy_url=f"http://guardian:{password}@127.0.0.1:18999")
    data = render_profile(_profile())
    assert json.loads(data)["listen"] == "127.0.0.1:18999"
    assert password.encode() not in data


def test_stale_run_files_report_stale_and_nothing_as_active(guardian_env, guardian_home):
    home = GuardianHome(guardian_home)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    write_run_files(home, {"pid": gone.pid, "process_start_time": 1, "started_at": "2026-04-26T10:00:00Z",
                           "listen": "127.0.0.1:18777", "https_inspection": True})
    profile = _profile()
    _validate(profile)
    assert profile["monitor_status"] == "stale"
    assert profile["listen"] is None and profile["https_inspection"] is False
    assert profile["monitor_started_at"] is None


def test_ca_fingerprint_is_the_sha256_of_the_guardian_ca_certificate_der(guardian_env, guardian_home):
    crypto = pytest.importorskip("cryptography.x509", reason="needs cryptography (from mitmproxy)")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = crypto.Name([crypto.NameAttribute(crypto.oid.NameOID.COMMON_NAME, "guardian test CA")])
    now = datetime.now(UTC)
    cert = (crypto.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    confdir = GuardianHome(guardian_home).confdir
    confdir.mkdir(parents=True)
    # mitmproxy's CA file holds the key too; only the certificate is hashed.
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM)
    (confdir / "mitmproxy-ca-cert.pem").write_bytes(pem)
    expected = cert.fingerprint(hashes.SHA256()).hex()
    assert ca_fingerprint(GuardianHome(guardian_home)) == expected
    profile = _profile()
    _validate(profile)
    assert profile["ca_fingerprint_sha256"] == expected


def test_no_ca_means_a_null_fingerprint(guardian_env, guardian_home):
    assert ca_fingerprint(GuardianHome(guardian_home)) is None
    assert _profile()["ca_fingerprint_sha256"] is None


# -- generated_at ----------------------------------------------------------------------------------


def test_generated_at_comes_from_source_date_epoch_when_set(guardian_env, guardian_home):
    write_findings(guardian_home, spread_findings(2))
    profile = _profile({"SOURCE_DATE_EPOCH": "1777200000"})
    assert profile["generated_at"] == "2026-04-26T10:40:00.000Z"
    assert profile["generated_at_source"] == "source_date_epoch"
    assert _profile({"SOURCE_DATE_EPOCH": "0"})["generated_at"] == EPOCH


@pytest.mark.parametrize("value", ["soon", "-5", "1.5", "99999999999999999999"])
def test_a_malformed_source_date_epoch_is_refused(guardian_env, value):
    with pytest.raises(PostureError, match="SOURCE_DATE_EPOCH"):
        _profile({"SOURCE_DATE_EPOCH": value})


def test_generated_at_is_the_newest_finding_without_a_running_monitor(guardian_env, guardian_home):
    findings = spread_findings(5)
    write_findings(guardian_home, findings)
    profile = _profile()
    assert profile["generated_at"] == findings[-1].timestamp
    assert profile["generated_at_source"] == "last_state_change"


def test_generated_at_is_the_monitor_start_when_that_is_newer_than_any_finding(guardian_env, fake_monitor):
    home, process = fake_monitor
    write_findings(home.root, spread_findings(3, now=datetime(2026, 1, 1, tzinfo=UTC)))
    _run_state(home, process.pid, started_at="2026-04-26T12:00:00+02:00")
    assert _profile()["generated_at"] == "2026-04-26T10:00:00.000Z"


# -- determinism -----------------------------------------------------------------------------------


def test_rendering_is_canonical_json(guardian_env, guardian_home):
    write_findings(guardian_home, spread_findings(30))
    data = render_profile(_profile())
    profile = json.loads(data)
    assert data == (json.dumps(profile, sort_keys=True, indent=2, ensure_ascii=True) + "\n").encode()
    assert data.endswith(b"}\n") and not data.endswith(b"\n\n")


def test_same_state_gives_the_same_bytes_and_a_new_finding_changes_the_log_digest(guardian_env,
                                                                                   guardian_home):
    write_findings(guardian_home, spread_findings(10))
    first = render_profile(_profile())
    assert render_profile(_profile()) == first
    write_findings(guardian_home, spread_findings(1))
    after = json.loads(render_profile(_profile()))
    assert after["finding_log_sha256"] != json.loads(first)["finding_log_sha256"]
    assert after["findings"]["total"] == 11


def test_profile_holds_no_path_of_the_machine(guardian_env, guardian_home):
    write_findings(guardian_home, spread_findings(3))
    assert str(guardian_home).encode() not in render_profile(_profile())


def test_profile_never_holds_a_planted_secret(guardian_env, guardian_home):
    secret = openai_project_key()
    engine = Engine(redactor=Redactor(GuardianHome(guardian_home).fingerprint_key(create=True)))
    findings = engine.scan(Exchange(direction="outbound", dest="paste.example.org:443", source="127.0.0.1:5",
                                    body=f"key {secret}".encode(), flow_id="t"))
    assert findings
    write_findings(guardian_home, findings)
    data = render_profile(_profile())
    assert json.loads(data)["findings"]["by_pattern"] == {"ai_api_key": len(findings)}
    assert_no_leak([secret], None, [data])


def test_known_secrets_watched_are_counted_by_owner_and_fingerprint_never_by_value(guardian_env, guardian_home,
                                                                                     tmp_path):
    from picoclaw_fixtures import write_picoclaw_home
    from traffic_guardian.home.secrets_summary import write_summary
    from traffic_guardian.picoclaw.secrets_watch import KnownSecretsWatch

    assert _profile()["known_secrets"] is None
    picoclaw = write_picoclaw_home(tmp_path / "picoclaw-fixture")
    home = GuardianHome(guardian_home)
    redactor = Redactor(home.fingerprint_key(create=True))
    write_summary(home, KnownSecretsWatch(picoclaw.home, redactor.fingerprint).current())

    profile = _profile()
    _validate(profile)
    block = profile["known_secrets"]
    assert block["watched"] == len(block["secrets"]) > 0
    assert all(len(entry["fingerprint"]) == 12 for entry in block["secrets"])
    assert render_profile(profile) == render_profile(_profile())
    assert_no_leak(picoclaw.values, home=guardian_home, outputs=[render_profile(profile)])
