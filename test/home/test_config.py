"""Configuration (SPEC.md section 4): one test per problem class, env overrides, and the contract
that config/default.json, KEY_SPECS and SPEC.md agree (also for the pattern ids of section 6).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from traffic_guardian.detect.rules import RULESET
from traffic_guardian.home.config import KEY_SPECS, ConfigError, load_config, load_defaults

SPEC = (Path(__file__).resolve().parents[2] / "SPEC.md").read_text(encoding="utf-8")


def spec_section(number: int) -> str:
    match = re.search(rf"^## {number}\. .*?(?=^## \d+\. )", SPEC, re.S | re.M)
    assert match, f"SPEC.md has no section {number}"
    return match.group(0)


def env_for(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {"PICOCLAW_TRAFFIC_GUARDIAN_HOME": str(tmp_path / "home"), "PICOCLAW_HOME": str(tmp_path / "picoclaw"),
           "HOME": str(tmp_path)}
    env.update({f"PICOCLAW_TRAFFIC_GUARDIAN_{key}": value for key, value in overrides.items()})
    return env


def problems_for(tmp_path: Path, document=None, raw: str | None = None, **overrides: str) -> dict[str, str]:
    path = None
    if document is not None or raw is not None:
        path = tmp_path / "config.json"
        path.write_text(raw if raw is not None else json.dumps(document), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(str(path) if path else None, env_for(tmp_path, **overrides))
    return {problem.key: problem.message for problem in error.value.problems}


def test_defaults_are_valid_and_loading_writes_nothing(tmp_path):
    config = load_config(None, env_for(tmp_path))
    assert config.mode == "detect" and config.max_scan_bytes == 262144
    assert not (tmp_path / "home").exists()


# (problem class, config document, key that must be named, words the message must contain)
PROBLEMS = [
    ("unknown key", {"max_scan_byte": 1024}, "max_scan_byte", "unknown key"),
    ("wrong type", {"listen_port": "18777"}, "listen_port", "wrong type"),
    ("bool is not an integer", {"max_scan_bytes": True}, "max_scan_bytes", "wrong type"),
    ("out of range low", {"max_scan_bytes": 512}, "max_scan_bytes", "out of range"),
    ("out of range high", {"max_scan_bytes": 64 * 1024 * 1024}, "max_scan_bytes", "out of range"),
    ("mode other than detect", {"mode": "block"}, "mode", "blocking is not part of this version"),
    ("redact_snippets false", {"redact_snippets": False}, "redact_snippets", "never written"),
    ("non-loopback listen_host", {"listen_host": "0.0.0.0"}, "listen_host", "not a loopback"),
    ("log_dir outside the home", {"log_dir": "../elsewhere"}, "log_dir", "outside the guardian home"),
    ("ca_bundle outside the home", {"ca_bundle": "/etc/ssl/ca.pem"}, "ca_bundle", "outside the guardian home"),
    ("unreadable upstream_ca_bundle", {"upstream_ca_bundle": "/nonexistent/ca.pem"}, "upstream_ca_bundle",
     "not a readable file"),
    ("malformed provider_hosts", {"provider_hosts": {"openai-compatible": "llm.example"}},
     "provider_hosts.openai-compatible", "list of host names"),
    ("provider_hosts not an object", {"provider_hosts": ["llm.example"]}, "provider_hosts", "wrong type"),
    ("null where not nullable", {"log_dir": None}, "log_dir", "must not be null"),
    ("metrics_textfile outside the home", {"metrics_textfile": "/var/lib/node_exporter/g.prom"}, "metrics_textfile",
     "outside the guardian home"),
    ("metrics_textfile not .prom", {"metrics_textfile": "metrics/guardian.txt"}, "metrics_textfile",
     "must end in .prom"),
]


@pytest.mark.parametrize(("what", "document", "key", "words"), PROBLEMS, ids=[p[0] for p in PROBLEMS])
def test_each_problem_class_names_its_key(tmp_path, what, document, key, words):
    problems = problems_for(tmp_path, document)
    assert key in problems, problems
    assert words in problems[key]


def test_every_problem_is_reported_not_just_the_first(tmp_path):
    problems = problems_for(tmp_path, {"mode": "block", "listen_host": "10.0.0.1", "log_backups": -1})
    assert {"mode", "listen_host", "log_backups"} <= set(problems)


@pytest.mark.parametrize(("what", "raw", "words"), [
    ("not JSON", "{mode: detect}", "invalid JSON"),
    ("not an object", "[1, 2]", "JSON object"),
    ("not UTF-8", "\udcff", "invalid JSON"),
])
def test_config_file_that_is_not_a_json_object(tmp_path, what, raw, words):
    path = tmp_path / "config.json"
    path.write_bytes(raw.encode("utf-8", "surrogateescape"))
    with pytest.raises(ConfigError) as error:
        load_config(str(path), env_for(tmp_path))
    assert error.value.source == str(path)
    assert [p.key for p in error.value.problems] == ["config"] and words in error.value.problems[0].message


@pytest.mark.parametrize(("make", "words"), [
    (lambda tmp: tmp / "missing.json", "not found"),
    (lambda tmp: tmp, "directory"),
])
def test_config_file_missing_or_unreadable(tmp_path, make, words):
    with pytest.raises(ConfigError) as error:
        load_config(str(make(tmp_path)), env_for(tmp_path))
    assert words in error.value.problems[0].message


def test_config_file_chosen_by_env_then_home(tmp_path):
    chosen = tmp_path / "chosen.json"
    chosen.write_text(json.dumps({"listen_port": 18001}))
    assert load_config(None, env_for(tmp_path, CONFIG=str(chosen))).listen_port == 18001
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.json").write_text(json.dumps({"listen_port": 18002}))
    assert load_config(None, env_for(tmp_path)).listen_port == 18002
    assert load_config(str(chosen), env_for(tmp_path)).listen_port == 18001


def test_env_overrides_win_over_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"max_scan_bytes": 4096, "log_dir": "logs"}))
    config = load_config(str(path), env_for(tmp_path, MAX_SCAN_BYTES="8192", LOG_DIR="other-logs",
                                            PROXY_URL="http://127.0.0.1:18999", REDACT_SNIPPETS="yes",
                                            PROFILE_OUTPUT="p.json", MODE="detect", CA_BUNDLE="ca/x.pem"))
    assert (config.max_scan_bytes, config.log_dir, config.listen_host, config.listen_port) == (
        8192, "other-logs", "127.0.0.1", 18999)
    assert (config.profile_output, config.ca_bundle, config.redact_snippets) == ("p.json", "ca/x.pem", True)


@pytest.mark.parametrize(("override", "value", "key"), [
    ("MAX_SCAN_BYTES", "lots", "max_scan_bytes"),
    ("REDACT_SNIPPETS", "maybe", "redact_snippets"),
    ("PROXY_URL", "socks5://127.0.0.1:1080", "listen_host"),
    ("PROXY_URL", "http://127.0.0.1:99999", "listen_port"),
    ("PROXY_URL", "http://192.168.1.10:8080", "listen_host"),
    ("MODE", "block", "mode"),
])
def test_bad_environment_override_names_the_key_and_the_variable(tmp_path, override, value, key):
    problems = problems_for(tmp_path, **{override: value})
    assert key in problems, problems


def test_every_default_key_has_a_keyspec_and_a_spec_row():
    defaults = load_defaults()
    assert set(defaults) == set(KEY_SPECS)
    section = spec_section(4)
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))
    assert set(defaults) - documented == set()
    assert documented - set(defaults) == set()


def test_every_pattern_id_and_variant_appears_in_spec_section_6():
    section = spec_section(6)
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z_]+)` \|[^|]*\|[^|]*\|([^\n]*)$", section, re.M)}
    missing = []
    for rule in RULESET:
        if rule.pattern not in rows:
            missing.append(rule.pattern)
        elif not re.search(rf"(?<![a-z_]){re.escape(rule.variant)}(?![a-z_])", rows[rule.pattern]):
            missing.append(rule.rule_id)
    assert missing == []
