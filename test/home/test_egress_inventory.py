"""Egress inventory: bounded, persisted atomically, read back for status and scripts/egress.py."""

from __future__ import annotations

import json

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
