"""No false positives on realistic benign traffic (test/benign_corpus.py), and expected uses counted.

A provider key in its own auth location to its own host is the gateway doing its job: the
engine counts it in Engine.expected_uses and reports nothing.
"""

from __future__ import annotations

from collections import Counter

import pytest

import benign_corpus
from canary import assert_no_leak
from traffic_guardian.detect.engine import Engine

FLOWS = benign_corpus.all_flows()


@pytest.mark.parametrize("flow", FLOWS, ids=[flow.name for flow in FLOWS])
def test_benign_flow_has_no_findings_and_counts_expected_uses(flow):
    engine = Engine()
    findings = [finding for exchange in flow.exchanges for finding in engine.scan(exchange)]
    assert [(f.pattern, f.variant, f.location, f.snippet) for f in findings] == []
    assert engine.expected_uses == flow.expected_uses


def test_corpus_covers_every_provider_binding_it_claims():
    counted = Counter()
    for flow in FLOWS:
        counted.update(flow.expected_uses)
    assert {"openai", "anthropic", "google", "openrouter", "openai-compatible", "groq", "telegram", "discord",
            "github", "tavily", "slack", "stripe", "aws", "jwt"} <= set(counted)


def test_benign_corpus_scan_is_quiet_end_to_end_with_one_engine():
    """All flows through one engine, as the proxy would see them: totals add up, no leak in reprs."""
    engine = Engine()
    findings = [f for flow in FLOWS for exchange in flow.exchanges for f in engine.scan(exchange)]
    expected = Counter()
    for flow in FLOWS:
        expected.update(flow.expected_uses)
    assert findings == []
    assert engine.expected_uses == expected
    assert_no_leak([s for flow in FLOWS for s in flow.secrets], outputs=[repr(dict(engine.expected_uses))])
