"""picoclaw/config_files.py: read-only extraction of the operator's PicoClaw secrets and their bindings.

The v3 field-by-field cases are in test_v3_layout.py; these are the reader's general rules."""

from __future__ import annotations

import json
import os

import pytest

import fakes
from canary import assert_no_leak
from conftest import run_script
from picoclaw_fixtures import write_picoclaw_home
from traffic_guardian.picoclaw.config_files import (
    CONFIG_FILE,
    SECURITY_FILE,
    known_secrets_report,
    read_picoclaw,
    resolve_picoclaw_home,
)


def by_value(snapshot):
    return {secret.value: secret for secret in snapshot.secrets}


def test_every_configured_secret_is_found_with_its_owner_and_binding(tmp_path):
    fixture = write_picoclaw_home(tmp_path / "picoclaw")
    found = by_value(read_picoclaw(fixture.home))
    keys = fixture.keys
    assert set(found) == set(fixture.values)
    expected = {
        "openai": ("model:gpt-5.4", "model_api_key", SECURITY_FILE, ("api.openai.com",)),
        "anthropic": ("model:claude-sonnet-4.6", "model_api_key", SECURITY_FILE, ("api.anthropic.com",)),
        "gateway": ("model:my-gateway", "model_api_key", CONFIG_FILE, ("llm.gateway.test",)),
        "deepseek": ("model:deepseek", "model_api_key", CONFIG_FILE, ("api.deepseek.com",)),
        "telegram": ("channel:telegram", "channel_secret", SECURITY_FILE, ("api.telegram.org",)),
        "brave": ("web:brave", "web_tool_key", SECURITY_FILE, ("api.search.brave.com",)),
        "tavily": ("web:tavily", "web_tool_key", SECURITY_FILE, ("api.tavily.com",)),
        "mcp": ("mcp:kvm", "mcp_credential", CONFIG_FILE, ("kvm.lan.test",)),
        "feishu_encrypt": ("channel:feishu", "channel_secret", CONFIG_FILE, ()),  # never sent out: bound to nothing
    }
    for role, (owner, kind, source, hosts) in expected.items():
        secret = found[keys[role]]
        assert (secret.owner, secret.kind, secret.source, secret.binding.hosts) == (owner, kind, source, hosts), role
    assert found[keys["telegram"]].binding.auth == ("path:/bot", "path:/file/bot")
    assert "body_json:d.token" in found[keys["discord"]].binding.auth
    assert found[keys["brave"]].binding.auth == ("header:x-subscription-token",)


def test_refs_placeholders_and_short_values_are_not_secrets(tmp_path):
    home = tmp_path / "picoclaw"
    home.mkdir()
    (home / CONFIG_FILE).write_text(json.dumps({"model_list": [
        {"model_name": "a", "model": "openai/x", "api_key": "ref:model_list.a.api_key"},
        {"model_name": "b", "model": "openai/x", "api_key": "sk-your-openai-key"},
        {"model_name": "c", "model": "openai/x", "api_key": "YOUR_API_KEY"},
        {"model_name": "d", "model": "openai/x", "api_key": "short"},
        {"model_name": "e", "model": "openai/x", "api_keys": ["", None, "sk-xxx"]},
    ], "channels": {"slack": {"bot_token": "xoxb-YOUR-BOT-TOKEN"}}}))
    assert read_picoclaw(home).secrets == []


def test_other_secret_looking_fields_are_bound_to_nothing_but_names_alone_are_not_enough(tmp_path):
    home = tmp_path / "picoclaw"
    home.mkdir()
    token = fakes.opaque_secret(36)
    (home / CONFIG_FILE).write_text(json.dumps({
        "custom": {"service": {"client_secret": token}},
        "session": {"session_key": "agent:main:telegram", "cache_key": "/var/tmp/cache-2024", "max_tokens": 4096},
    }))
    secrets = read_picoclaw(home).secrets
    assert [(s.value, s.owner, s.kind, s.binding.hosts) for s in secrets] == [
        (token, "config:custom.service.client_secret", "other_secret", ())]


def test_every_string_in_security_yml_is_a_secret_even_unknown_sections(tmp_path):
    home = tmp_path / "picoclaw"
    home.mkdir()
    token = fakes.opaque_secret(20)
    (home / SECURITY_FILE).write_text(f"future_section:\n  thing:\n    credential: {token}\n")
    [secret] = read_picoclaw(home).secrets
    assert (secret.value, secret.owner, secret.kind) == (token, "config:future_section.thing.credential",
                                                        "other_secret")


def test_model_index_binds_to_the_nth_entry_of_that_name(tmp_path):
    home = tmp_path / "picoclaw"
    home.mkdir()
    first, second = fakes.opaque_secret(), fakes.opaque_secret()
    (home / CONFIG_FILE).write_text(json.dumps({"model_list": [
        {"model_name": "lb", "model": "openai/gpt", "api_base": "https://api1.example.test/v1"},
        {"model_name": "lb", "model": "openai/gpt", "api_base": "https://api2.example.test/v1"},
    ]}))
    (home / SECURITY_FILE).write_text(f"model_list:\n  lb:0:\n    api_keys: [{first}]\n"
                                      f"  lb:1:\n    api_keys: [{second}]\n")
    found = by_value(read_picoclaw(home))
    assert found[first].binding.hosts == ("api1.example.test",)
    assert found[second].binding.hosts == ("api2.example.test",)


def test_broken_files_are_reported_without_content_and_never_raise(tmp_path):
    home = tmp_path / "picoclaw"
    home.mkdir()
    secret = fakes.opaque_secret()
    (home / CONFIG_FILE).write_text('{"model_list": [' + f'"{secret}"')
    (home / SECURITY_FILE).write_text(f"web:\n  brave:\n    api_key: &{secret}\n")
    snapshot = read_picoclaw(home)
    config_report, security_report, auth_report = snapshot.reports
    assert not auth_report.exists
    assert config_report.error.startswith("invalid JSON") and security_report.error.startswith("unsupported YAML")
    assert snapshot.secrets == []
    assert_no_leak([secret], outputs=[config_report.error, security_report.error])


def test_missing_home_is_empty_and_reading_changes_nothing(tmp_path):
    assert read_picoclaw(tmp_path / "absent").secrets == []
    fixture = write_picoclaw_home(tmp_path / "picoclaw")
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in fixture.home.iterdir()}
    read_picoclaw(fixture.home)
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in fixture.home.iterdir()} == before


def test_picoclaw_home_resolution(tmp_path):
    assert resolve_picoclaw_home(str(tmp_path / "x"), {}) == tmp_path / "x"
    assert resolve_picoclaw_home(None, {"PICOCLAW_HOME": str(tmp_path / "y")}) == tmp_path / "y"
    assert resolve_picoclaw_home(None, {"HOME": "/nonexistent"}).name == ".picoclaw"


def test_egress_hosts_are_what_picoclaw_is_configured_to_use(tmp_path):
    fixture = write_picoclaw_home(tmp_path / "picoclaw")
    hosts = read_picoclaw(fixture.home).egress_hosts
    for host in ("api.openai.com", "api.anthropic.com", "llm.gateway.test", "api.deepseek.com",
                 "api.telegram.org", "gateway.discord.gg", "api.search.brave.com", "html.duckduckgo.com",
                 "kvm.lan.test", "api.github.com"):
        assert host in hosts
    assert "slack.com" not in hosts  # the slack channel is disabled


def test_report_counts_per_file_and_required_mode_problems(tmp_path):
    fixture = write_picoclaw_home(tmp_path / "picoclaw")
    report = known_secrets_report("auto", str(fixture.home))
    assert [(f["exists"], f["secrets"]) for f in report["files"]] == [(True, 5), (True, 7), (False, 0)]
    assert report["secrets"] == 12 and report["problems"] == []
    assert known_secrets_report(False, str(fixture.home))["files"] == []
    assert known_secrets_report("auto", str(tmp_path / "none"))["problems"] == []
    assert known_secrets_report(True, str(tmp_path / "none"))["problems"]
    assert_no_leak(fixture.values, outputs=[json.dumps(report)])


def test_validate_reports_files_and_counts_never_secrets(guardian_env, tmp_path):
    fixture = write_picoclaw_home(tmp_path / "picoclaw")  # = $PICOCLAW_HOME of guardian_env
    human = run_script("validate.py", env=guardian_env)
    assert human.returncode == 0, human.stderr
    lines = human.stderr.decode()
    assert f"known secrets: {fixture.config_path}: 5 secrets" in lines
    assert f"known secrets: {fixture.security_path}: 7 secrets" in lines
    assert "known secrets: 12 watched" in lines
    machine = run_script("validate.py", "--json", env=guardian_env)
    report = json.loads(machine.stdout)["known_secrets"]
    assert report["secrets"] == 12 and [f["secrets"] for f in report["files"]] == [5, 7, 0]
    assert_no_leak(fixture.values, home=guardian_env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"],
                   outputs=[human.stdout, human.stderr, machine.stdout, machine.stderr])


def test_validate_with_known_secrets_true_and_no_files_exits_2(guardian_env, tmp_path):
    config = tmp_path / "guardian.json"
    config.write_text(json.dumps({"known_secrets": True, "picoclaw_home": str(tmp_path / "absent")}))
    result = run_script("validate.py", "--config", str(config), env=guardian_env)
    assert result.returncode == 2
    assert "known_secrets:" in result.stderr.decode()
    result = run_script("validate.py", "--config", str(config), "--json", env=guardian_env)
    assert result.returncode == 2 and json.loads(result.stdout)["valid"] is False


def test_config_keys_are_validated(guardian_env, tmp_path):
    config = tmp_path / "guardian.json"
    config.write_text(json.dumps({"known_secrets": "sometimes", "egress_allowlist": ["ok.example", 3],
                                  "egress_inventory_max": 1}))
    result = run_script("validate.py", "--config", str(config), env=guardian_env)
    assert result.returncode == 2
    errors = result.stderr.decode()
    for key in ("known_secrets", "egress_allowlist", "egress_inventory_max"):
        assert f": {key}: " in errors


def test_unreadable_file_is_an_error_not_a_crash(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads any file: the permission path cannot be exercised")
    fixture = write_picoclaw_home(tmp_path / "picoclaw")
    fixture.security_path.chmod(0)
    report = read_picoclaw(fixture.home).reports[1]
    assert report.error.startswith("not readable")


def test_validate_says_an_older_config_will_be_migrated(guardian_env, tmp_path):
    home = tmp_path / "picoclaw"  # = $PICOCLAW_HOME of guardian_env
    home.mkdir()
    (home / CONFIG_FILE).write_text(json.dumps({"version": 2, "channels": {"telegram": {"enabled": True}}}))
    lines = run_script("validate.py", env=guardian_env).stderr.decode().splitlines()
    assert "validate.py: known secrets: PicoClaw config version 2" in lines
    assert any(line.startswith("validate.py: known secrets: version 2 is older than PicoClaw's current 3")
               for line in lines)
