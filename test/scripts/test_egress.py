"""scripts/egress.py: the inventory as JSONL, sorted, with allowlist flags; help and bad usage."""

from __future__ import annotations

import json

from conftest import run_script
from picoclaw_fixtures import write_picoclaw_home
from traffic_guardian.home.egress_inventory import EgressInventory
from traffic_guardian.home.guardian_home import GuardianHome


def test_egress_script_lists_jsonl_sorted_with_allowed_flags(guardian_env, tmp_path):
    write_picoclaw_home(tmp_path / "picoclaw")
    home = GuardianHome(tmp_path / "home")
    inventory = EgressInventory(home)
    inventory.record("api.openai.com:443", "https", requests=5, bytes_out=500)
    inventory.record("collector.evil.test:443", "https", requests=2, bytes_out=9000)
    inventory.maybe_save(force=True)
    result = run_script("egress.py", "--sort", "bytes_out", env=guardian_env)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(row["dest"], row["allowed"]) for row in rows] == [("collector.evil.test:443", False),
                                                               ("api.openai.com:443", True)]
    unexpected = run_script("egress.py", "--unexpected", env=guardian_env)
    assert [json.loads(line)["dest"] for line in unexpected.stdout.splitlines()] == ["collector.evil.test:443"]
    ascending = run_script("egress.py", "--sort", "requests", "--ascending", "--limit", "1", env=guardian_env)
    assert [json.loads(line)["dest"] for line in ascending.stdout.splitlines()] == ["collector.evil.test:443"]


def test_egress_script_help_empty_and_bad_usage(guardian_env):
    assert run_script("egress.py", "--help", env=guardian_env).returncode == 0
    empty = run_script("egress.py", env=guardian_env)
    assert empty.returncode == 0 and empty.stdout == b"" and b"no egress recorded yet" in empty.stderr
    assert run_script("egress.py", "--sort", "nope", env=guardian_env).returncode == 2
    assert run_script("egress.py", "--limit", "-1", env=guardian_env).returncode == 2
