"""scripts/validate.py: exit 0 valid / 2 invalid, one stderr line per problem naming the key,
--json for machines, and nothing written (the home is not even created).
"""

from __future__ import annotations

import json
import os

import pytest

from conftest import run_script


def test_valid_defaults_exit_0_and_create_nothing(guardian_env, guardian_home):
    result = run_script("validate.py", env=guardian_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    assert b"valid" in result.stderr
    assert not guardian_home.exists()


def test_json_output_when_valid(guardian_env, guardian_home):
    result = run_script("validate.py", "--json", env=guardian_env)
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["valid"] is True and report["mode"] == "detect"
    assert report["home"] == str(guardian_home)
    assert not guardian_home.exists()


@pytest.mark.parametrize(("document", "key"), [
    ({"colour": "blue"}, "colour"),
    ({"listen_port": "80"}, "listen_port"),
    ({"max_scan_bytes": 10}, "max_scan_bytes"),
    ({"mode": "block"}, "mode"),
    ({"redact_snippets": False}, "redact_snippets"),
    ({"listen_host": "0.0.0.0"}, "listen_host"),
    ({"log_dir": "/var/log"}, "log_dir"),
    ({"upstream_ca_bundle": "/nonexistent.pem"}, "upstream_ca_bundle"),
    ({"provider_hosts": {"openai": [""]}}, "provider_hosts.openai"),
])
def test_each_bad_config_exits_2_with_one_line_naming_the_key(tmp_path, guardian_env, guardian_home, document, key):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    result = run_script("validate.py", "--config", str(path), env=guardian_env)
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"validate.py: {path}: {key}: "), lines
    assert result.stdout == b""
    assert not guardian_home.exists()


def test_mode_line_says_blocking_is_not_part_of_this_version(tmp_path, guardian_env):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"mode": "block"}))
    assert b"blocking is not part of this version" in run_script("validate.py", "--config", str(path),
                                                                 env=guardian_env).stderr


def test_json_output_lists_every_problem(tmp_path, guardian_env):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"mode": "block", "listen_host": "8.8.8.8"}))
    result = run_script("validate.py", "--config", str(path), "--json", env=guardian_env)
    report = json.loads(result.stdout)
    assert result.returncode == 2 and report["valid"] is False and report["source"] == str(path)
    assert {p["key"] for p in report["problems"]} == {"mode", "listen_host"}


@pytest.mark.parametrize(("content", "words"), [(None, b"file not found"), ("{", b"invalid JSON"),
                                                ("[]", b"JSON object")])
def test_missing_or_broken_file_is_one_line_exit_2(tmp_path, guardian_env, content, words):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    result = run_script("validate.py", "--config", str(path), env=guardian_env)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and words in result.stderr


def test_bad_env_override_exits_2(guardian_env):
    env = {**guardian_env, "PICOCLAW_TRAFFIC_GUARDIAN_MAX_SCAN_BYTES": "big"}
    result = run_script("validate.py", env=env)
    assert result.returncode == 2 and b"max_scan_bytes" in result.stderr and b"PICOCLAW_TRAFFIC_GUARDIAN_MAX" in \
        result.stderr


def test_help_exits_0():
    result = run_script("validate.py", "--help")
    assert result.returncode == 0 and b"--json" in result.stdout


@pytest.mark.parametrize("shape", ["symlink", "file", "planted"])
def test_a_home_start_would_refuse_fails_validation_with_starts_message(tmp_path, shape):
    """SPEC section 4: validate.py and start.sh say the same thing about an unusable home."""
    home = tmp_path / "home"
    if shape == "symlink":
        (tmp_path / "elsewhere").mkdir()
        home.symlink_to(tmp_path / "elsewhere")
    elif shape == "file":
        home.write_text("not a directory\n")
    else:
        (home / "run").mkdir(parents=True)
        (home / "run" / "state.json").symlink_to(tmp_path / "victim")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICOCLAW_")}
    env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"] = str(home)
    validated = run_script("validate.py", env=env)
    started = run_script("start.py", "--background", env=env)
    assert validated.returncode == 2 and started.returncode in (1, 2)
    (said,) = validated.stderr.decode().splitlines()
    (refused,) = started.stderr.decode().splitlines()
    assert said.removeprefix("validate.py: ") == refused.removeprefix("start.sh: ")
    assert not (tmp_path / "victim").exists()
