"""The detect-only egress allowlist: unexpected_egress (POLICY, medium), once per destination per window."""

from __future__ import annotations

from traffic_guardian.detect.egress_policy import EgressPolicy


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
