"""Egress inventory (bounded, persisted, listed by scripts/egress.py) and the detect-only
allowlist (unexpected_egress, POLICY, medium, once per destination per window)."""

from __future__ import annotations

import json

from conftest import run_script
from picoclaw_fixtures import write_picoclaw_home
from traffic_guardian.detect.egress_policy import EgressPolicy
from traffic_guardian.home.egress_inventory import EgressInventory, read_inventory, top_destinations
from traffic_guardian.home.guardian_home import GuardianHome


def test_inventory_counts_requests_and_bytes_per_destination(tmp_path):
    inventory = EgressInventory(GuardianHome(tmp_path / "home"), max_entries=10)
    inventory.record("api.openai.com:443", "https", bytes_out=100)
    inventory.add_bytes("api.openai.com:443", bytes_in=2048)
    inventory.record("api.openai.com:443", "https", bytes_out=50)
    inventory.record("1.2.3.4:443", "tls-passthrough", sni="api.example.test")
    inventory.record("1.2.3.4:443", "tls-passthrough", sni="api.example.test")
    entries = {entry["dest"]: entry for entry in inventory.entries()}
    openai = entries["api.openai.com:443"]
    assert (openai["requests"], openai["bytes_out"], openai["bytes_in"], openai["protocols"]) == (2, 150, 2048,
                                                                                                   ["https"])
    assert openai["first_seen"] <= openai["last_seen"]
    assert entries["1.2.3.4:443"]["sni"] == ["api.example.test"] and entries["1.2.3.4:443"]["requests"] == 2


def test_inventory_is_bounded_by_evicting_the_least_recently_seen(tmp_path):
    inventory = EgressInventory(GuardianHome(tmp_path / "home"), max_entries=3)
    for name in ("a", "b", "c"):
        inventory.record(f"{name}.test:443", "https")
    inventory.record("a.test:443", "https")  # a is now the most recent
    inventory.record("d.test:443", "https")
    assert sorted(entry["dest"] for entry in inventory.entries()) == ["a.test:443", "c.test:443", "d.test:443"]
    assert inventory.evicted == 1


def test_inventory_persists_atomically_at_most_every_interval_and_survives_a_restart(tmp_path):
    home = GuardianHome(tmp_path / "home")
    now = [0.0]
    inventory = EgressInventory(home, max_entries=10, save_interval=10, clock=lambda: now[0])
    inventory.record("api.openai.com:443", "https", bytes_out=10)
    assert inventory.maybe_save() is True  # the first change goes out at once
    inventory.record("api.openai.com:443", "https", bytes_out=0)
    assert inventory.maybe_save() is False  # then at most every save_interval
    now[0] = 10
    assert inventory.maybe_save() is True
    assert inventory.maybe_save(force=True) is False  # nothing changed since
    path = home.run_dir / "egress.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["schema"] == "clawsec-traffic-egress/v1"
    restarted = EgressInventory(home, max_entries=10)
    restarted.record("api.openai.com:443", "https", bytes_out=5)
    [entry] = restarted.entries()
    assert (entry["requests"], entry["bytes_out"]) == (3, 15)


def test_damaged_inventory_file_reads_as_empty(tmp_path):
    path = tmp_path / "egress.json"
    path.write_text('{"destinations": [{"dest": 1}, "x"')
    assert read_inventory(path) == []


def test_top_destinations_for_status(tmp_path):
    home = GuardianHome(tmp_path / "home")
    inventory = EgressInventory(home)
    for count, dest in ((3, "a.test:443"), (9, "b.test:443"), (1, "c.test:443")):
        inventory.record(dest, "https", requests=count)
    inventory.maybe_save(force=True)
    assert [entry["dest"] for entry in top_destinations(home, 2)] == ["b.test:443", "a.test:443"]


def policy(allowlist, derived=("api.openai.com", "*.discord.gg"), window=60, now=None):
    clock = (lambda: now[0]) if now is not None else None
    kwargs = {"clock": clock} if clock else {}
    return EgressPolicy(allowlist, lambda: derived, window, **kwargs)


def test_unexpected_egress_fires_once_per_destination_per_window():
    now = [0.0]
    check = policy(None, now=now).check
    first = check("collector.evil.test:443", "https", source="127.0.0.1:5000", flow_id="f1")
    assert (first.threat_type, first.pattern, first.severity, first.dest, first.location) == (
        "POLICY", "unexpected_egress", "medium", "collector.evil.test:443", "connection")
    assert check("collector.evil.test:443", "https") is None  # same window
    assert check("other.evil.test:443", "https") is not None  # another destination
    now[0] = 61
    again = check("collector.evil.test:443", "https")
    assert again is not None and again.suppressed == 1


def test_allowed_destinations_are_silent():
    check = policy(None).check
    assert check("api.openai.com:443", "https") is None
    assert check("gateway.discord.gg:443", "websocket") is None
    assert check("127.0.0.1:8080", "http") is None and check("localhost:11434", "http") is None
    assert check("[::1]:9000", "http") is None
    assert check("10.0.0.7:443", "tls-passthrough", sni="api.openai.com") is None  # SNI on the allowlist


def test_explicit_allowlist_with_picoclaw_entry_and_empty_list():
    assert policy(["*.internal.test"]).check("api.openai.com:443", "https") is not None  # replaces the derived
    assert policy(["picoclaw", "*.internal.test"]).check("api.openai.com:443", "https") is None
    assert policy(["picoclaw", "*.internal.test"]).check("llm.internal.test:443", "https") is None
    assert policy([]).check("anything.test:443", "https") is None  # [] turns the check off
    assert policy(None, derived=()).check("anything.test:443", "https") is None  # no PicoClaw config: off


def test_a_verdict_follows_the_derived_hosts_when_the_picoclaw_config_changes():
    derived = ["api.openai.com"]
    check = EgressPolicy(None, lambda: tuple(derived), 0).check
    assert check("api.anthropic.com:443", "https") is not None
    derived.append("api.anthropic.com")  # the operator added a provider; the config reloaded
    assert check("api.anthropic.com:443", "https") is None
    derived.remove("api.openai.com")
    assert check("api.openai.com:443", "https") is not None


def test_remembered_verdicts_are_bounded():
    policy = EgressPolicy(["ok.test"], lambda: (), 0, max_tracked=10)
    for number in range(100):
        policy.allows(f"host{number}.test")
    assert len(policy._verdicts) <= 10
    assert policy.allows("ok.test") and not policy.allows("host5.test")


def test_snippet_goes_through_redaction():
    check = EgressPolicy(["ok.test"], lambda: (), 60, redact=lambda text: text.replace("leaky", "[X]")).check
    assert "[X]" in check("leaky.evil.test:443", "https").snippet


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
