"""start / stop / status / proxy-env command-line behaviour that needs no running monitor."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import SCRIPTS, run_script


@pytest.mark.parametrize("name", ["start.py", "stop.py", "status.py", "demo_agent.py", "demo_upstream.py"])
def test_help(name):
    result = run_script(name, "--help")
    assert result.returncode == 0 and b"usage" in result.stdout.lower()


def test_shell_entry_points_have_help(guardian_env):
    for name in ("proxy-env.sh", "demo.sh"):
        result = subprocess.run(["bash", str(SCRIPTS / name), "--help"], env=guardian_env, capture_output=True,
                                timeout=60)
        assert result.returncode == 0, (name, result.stderr)


def test_status_when_stopped_exits_3_and_reports_stopped(guardian_env):
    human = run_script("status.py", env=guardian_env)
    assert human.returncode == 3 and b"stopped" in human.stdout
    machine = run_script("status.py", "--json", env=guardian_env)
    report = json.loads(machine.stdout)
    assert machine.returncode == 3 and report["state"] == "stopped" and report["pid"] is None
    assert report["findings_total"] == 0


def test_stop_when_nothing_runs_is_success(guardian_env):
    result = run_script("stop.py", env=guardian_env)
    assert result.returncode == 0 and json.loads(result.stdout)["outcome"] == "not-running"


def test_proxy_env_without_a_monitor_exits_3_and_prints_nothing(guardian_env):
    result = subprocess.run(["bash", str(SCRIPTS / "proxy-env.sh")], env=guardian_env, capture_output=True,
                            timeout=60)
    assert result.returncode == 3 and result.stdout == b"" and b"no monitor is running" in result.stderr


def test_start_rejects_bad_usage_and_bad_config_before_anything_runs(guardian_env, guardian_home, tmp_path):
    assert run_script("start.py", "--wait", "0", env=guardian_env).returncode == 2
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"listen_host": "0.0.0.0", "mode": "block"}))
    result = run_script("start.py", "--config", str(config), env=guardian_env)
    assert result.returncode == 2
    assert b"listen_host" in result.stderr and b"mode" in result.stderr
    assert not (guardian_home / "run").exists()
