"""home/prometheus_text.py: the exposition from the home's run files; bounded labels, never a secret."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

import fakes
from traffic_guardian.home.guardian_home import GuardianHome
from traffic_guardian.home.prometheus_text import PREFIX, SEVERITIES, render


def test_a_home_with_no_monitor_is_up_0_with_every_severity_at_zero(tmp_path):
    text = render(GuardianHome(tmp_path / "home"))
    assert f"{PREFIX}up 0\n" in text
    for severity in SEVERITIES:
        assert f'{PREFIX}findings_by_severity_total{{severity="{severity}"}} 0\n' in text
    assert "start_time_seconds" not in text.replace("# HELP", "").split("up 0")[0]


def test_the_last_write_keeps_the_counters_and_maps_picoclaw_owners_to_their_type(tmp_path):
    home = GuardianHome(tmp_path / "home")
    home.ensure_dir(home.run_dir)
    secret = fakes.github_token()
    counters = {"requests": 3, "responses": 2, "bytes_out": 100, "bytes_in": 50,
                "findings_by_kind": {"EXFIL|known_secret|critical": 1, "EXFIL|github_token|high": 2},
                "findings_by_severity": {"critical": 1, "high": 2},
                "known_secret_by_kind": {"model_api_key": 1},
                "expected_credential_uses": {"openai": 4, "known:model:gpt-5.4": 2, "known:model:other": 1,
                                             "known:channel:tg": 5},
                "last_finding_at": "2026-12-04T21:00:00.000Z", "last_write_error": f"oops {secret}"}
    home.write_atomic(home.counters_file, json.dumps(counters).encode())
    text = render(home, stopping=True)
    assert f"{PREFIX}up 0\n" in text
    assert f'{PREFIX}findings_total{{pattern="known_secret",severity="critical",threat_type="EXFIL"}} 1' in text
    assert f'{PREFIX}expected_credential_uses_total{{provider="picoclaw_model"}} 3' in text
    assert f'{PREFIX}expected_credential_uses_total{{provider="picoclaw_channel"}} 5' in text
    assert f'{PREFIX}known_secret_findings_total{{owner_kind="model_api_key"}} 1' in text
    assert f"{PREFIX}last_finding_timestamp_seconds 1796418000" in text
    assert secret not in text and "gpt-5.4" not in text  # no error text, no owner names
    if shutil.which("promtool"):
        check = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True)
        assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("family", ["http_messages_total", "transfer_bytes_total", "proxy_restarts_total",
                                    "scanner_backlog", "messages_not_fully_scanned_total", "syslog_messages_total"])
def test_every_family_has_help_and_type(tmp_path, family):
    text = render(GuardianHome(tmp_path / "home"))
    assert f"# HELP {PREFIX}{family} " in text and f"# TYPE {PREFIX}{family} " in text
