"""private_destination (SPEC.md sections 6 and 10): which addresses count, how each is named,
what the PicoClaw config and the allowlist make expected, and once per destination per window.
"""

from __future__ import annotations

import pytest

from traffic_guardian.detect.private_destination import PrivateDestinations, classify


@pytest.mark.parametrize(("address", "variant"), [
    ("169.254.169.254", "cloud_metadata"), ("fd00:ec2::254", "cloud_metadata"), ("169.254.170.2", "cloud_metadata"),
    ("100.100.100.200", "cloud_metadata"), ("::ffff:169.254.169.254", "cloud_metadata"),
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"), ("[::1]", "loopback"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("169.254.1.1", "link_local"), ("fe80::1%eth0", "link_local"),
    ("100.64.0.1", "cgnat"), ("100.127.255.254", "cgnat"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("172.31.255.255", "private"), ("192.168.1.1", "private"),
    ("fd12:3456::1", "private"), ("::ffff:10.0.0.1", "private"),
])
def test_non_public_addresses_and_their_variant(address, variant):
    assert classify(address) == variant


@pytest.mark.parametrize("address", ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "169.255.0.1",
                                     "api.openai.com", "2852039166", ""])
def test_public_addresses_and_names_are_not(address):
    assert classify(address) is None


def checker(allowlist=(), derived=(), window=60, clock=lambda: 0.0):
    return PrivateDestinations(list(allowlist), lambda: derived, window, clock=clock)


def test_metadata_is_high_and_named_by_how_it_was_reached():
    finding = checker().check("2852039166", 80, ["169.254.169.254"], "resolved", source="127.0.0.1:5000")
    assert (finding.pattern, finding.threat_type, finding.variant, finding.severity) == (
        "private_destination", "POLICY", "cloud_metadata", "high")
    assert finding.dest == "2852039166:80" and finding.location == "connection"
    assert finding.snippet == "2852039166 resolves to 169.254.169.254 (cloud metadata address)"


def test_a_literal_private_address_is_medium():
    finding = checker().check("10.0.0.5", 8080, ["10.0.0.5"], "literal")
    assert finding.severity == "medium" and finding.snippet == "10.0.0.5 (private address)"


def test_a_name_with_a_public_and_a_private_answer_reports_the_private_one():
    finding = checker().check("rebind.example", 80, ["93.184.216.34", "127.0.0.1"], "resolved")
    assert finding.variant == "loopback" and "127.0.0.1" in finding.snippet


def test_public_answers_are_silent():
    assert checker().check("example.com", 443, ["93.184.216.34"], "resolved") is None


def test_hosts_the_picoclaw_config_names_and_allowlist_entries_are_expected():
    assert checker(derived=("localhost", "ollama.lan")).check("localhost", 11434, ["127.0.0.1"], "resolved") is None
    assert checker(allowlist=["10.0.0.0/8"]).check("10.2.3.4", 80, ["10.2.3.4"], "literal") is None
    assert checker(allowlist=["*.corp.example"]).check("git.corp.example", 443, ["10.9.9.9"], "resolved") is None
    assert checker(allowlist=["10.0.0.0/8"]).check("192.168.0.2", 80, ["192.168.0.2"], "literal") is not None


def test_once_per_destination_per_window_and_a_connect_to_the_resolved_address_is_the_same_finding():
    now = [0.0]
    check = checker(window=60, clock=lambda: now[0])
    assert check.check("localhost", 8000, ["127.0.0.1"], "resolved") is not None
    assert check.check("localhost", 8000, ["127.0.0.1"], "connected") is None
    assert check.check("localhost", 8000, ["127.0.0.1"], "resolved") is None
    now[0] = 61.0
    assert check.check("localhost", 8000, ["127.0.0.1"], "resolved") is not None


def test_a_connection_that_lands_somewhere_the_name_did_not_resolve_to_is_reported():
    """DNS rebinding: the check saw a public answer, the connection went to a private address."""
    check = checker(window=0)
    assert check.check("rebind.example", 80, ["93.184.216.34"], "resolved") is None
    finding = check.check("rebind.example", 80, ["192.168.1.1"], "connected")
    assert finding.variant == "private" and "connected to 192.168.1.1" in finding.snippet
