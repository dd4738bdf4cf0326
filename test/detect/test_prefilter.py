"""The prefilter only skips rules that could not match (SPEC 5): gates are never narrower
than their rules, and the engine finds the same with and without Hyperscan."""

from __future__ import annotations

import json
import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import benign_corpus
import fakes
import test_rules_exfil
import test_rules_injection
from traffic_guardian.detect import prefilter
from traffic_guardian.detect.decode import base64_runs, views
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import INBOUND, OUTBOUND, Exchange
from traffic_guardian.detect.gate_syntax import CASELESS_FOLDS, Untranslatable, gate_pattern
from traffic_guardian.detect.redact import Redactor
from traffic_guardian.detect.rules import RULESET

hyperscan = pytest.importorskip("hyperscan", reason="the prefilter's fast path needs hyperscan (requirements.txt)")

FLAGS = hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_PREFILTER


def gate_hits(python_regex: str, text: str, ignorecase: bool = False) -> bool:
    expression, dotall = gate_pattern(python_regex, ignorecase)
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(expressions=[expression.encode()], ids=[0],
                     flags=[FLAGS | (hyperscan.HS_FLAG_DOTALL if dotall else 0)])
    hits = []
    database.scan(text.encode(), match_event_handler=lambda *_: hits.append(1))
    return bool(hits)


# -- the translation widens, never narrows ----------------------------------------------------

# (Python regex, text it matches): each text leans on a construct the gate has to widen.
WIDENED = [
    (r"\bfoo\b", "foo"),  # assertions dropped, or kept where Hyperscan's ASCII \b is at least as wide
    (r"\b(?:nc|ncat)[ ]+-e", "\u00abnc -e"),
    (r"\bnc", "\u00e9 nc"),
    (r"\b\d{2}", "\u00e9 \u0663\u0664"),
    (r"(?<![a-z])key(?!s)", "the key."),
    (r"(?m)^root:x$", "prefix\nroot:x\nsuffix"),
    (r"a{40,250}+b", "a" * 40 + "b"),  # possessive and long counts
    (r"\d{3}", "\u0663\u0664\u0665"),  # Arabic-Indic digits: Python's \d, not Hyperscan's
    (r"\w+@", "\u0560\u0588@"),  # letters newer than Hyperscan's Unicode tables
    (r"a\sb", "a\x1cb"),  # Python counts \x1c-\x1f as whitespace
    (r"a\sb", "a\u00a0b"),
    (r"[^\s:]{3}", "\u00e9\u0663\u212a"),  # a negated class still matches any other code point
    (r"(?i:kelvin)", "\u212aelvin"),  # the Kelvin sign folds to k under IGNORECASE
    (r"(?i:s)ecret", "\u017fecret"),  # long s folds to s
    (r"(?i:[a-z]{4})", "\u212a\u017fAb"),
    (r"(?i:finish)", "F\u0131N\u0130\u017fH"),  # dotless and dotted I
    (r"[\w.-]{2}x", "\u00e9-x"),  # a class ending in '-' keeps it literal
    (r"x{,3}y", "xxy"),
    (r"a\{1}", "a{1}"),  # an escaped brace is a literal
    (r"(?P<k>sk-)[a-f0-9]{4}", "sk-beef"),
    (r"\u00e9t\u00e9", "\u00e9t\u00e9"),
    (r"(?s)a.b", "a\nb"),
]


@pytest.mark.parametrize(("regex", "text"), WIDENED, ids=[regex for regex, _ in WIDENED])
def test_gate_matches_what_python_matches(regex, text):
    assert re.search(regex, text), "the example must match in Python first"
    assert gate_hits(regex, text)


def test_caseless_folds_are_every_non_ascii_character_ignorecase_matches_to_an_ascii_letter():
    any_letter = re.compile(r"(?i)[a-z]")
    found: dict[str, str] = {}
    for code in range(0x80, 0x110000):
        if any_letter.fullmatch(char := chr(code)):
            letter = next(letter for letter in string.ascii_lowercase if re.fullmatch(f"(?i){letter}", char))
            found[letter] = found.get(letter, "") + char
    assert found == CASELESS_FOLDS


def test_a_caseless_letter_gate_does_not_accept_other_non_ascii_characters():
    assert not gate_hits(r"(?i:aws)", "\u00e0w\u00df")  # what keeps such gates cheap
    assert not gate_hits(r"(?i:[a-z]{3})", "\u00e0\u00e9\u00ee")


@pytest.mark.parametrize("regex", [r"(a)\1", r"(?x) a b", r"\N{BULLET}", r"(?(1)a|b)", r"[[:alpha:]]",
                                   r"(?i)[\x20-\xff]", r"(?i:[\u00c0-\u00ff])"])
def test_constructs_the_translation_does_not_know_are_refused_not_guessed(regex):
    with pytest.raises(Untranslatable):
        gate_pattern(regex)


def test_a_leading_word_boundary_is_kept_so_short_literals_stay_selective():
    assert not gate_hits(r"\b(?:nc|ncat)x", "benchmark bencx")
    assert gate_hits(r"\b(?:nc|ncat)x", "bench ncx")


def test_a_quantified_assertion_is_dropped_with_its_quantifier():
    expression, _ = gate_pattern(r"xa(?=b){2}")
    assert expression == "xa"


REDACTOR = Redactor()  # one fingerprint key, so both engines' snippets compare equal


def keyword_loop_engine() -> Engine:
    engine = Engine(redactor=REDACTOR)
    engine.prefilter = prefilter.Prefilter(engine.prefilter.rules, use_hyperscan=False)  # as without hyperscan
    return engine


FAST, PLAIN = Engine(redactor=REDACTOR), keyword_loop_engine()


# -- every rule's gate covers every string the rule matches -----------------------------------

GATED = [rule for rule in RULESET if prefilter._gate(rule) is not None]


def test_every_rule_has_a_gate_hyperscan_accepts():
    assert {rule.rule_id for rule in RULESET} == {
        rule.rule_id for index, rule in enumerate(RULESET) if index in prefilter.Prefilter(RULESET).gated}


@pytest.mark.parametrize("rule", GATED, ids=lambda rule: rule.rule_id)
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_gate_covers_generated_matches_of_its_rule(rule, data):
    text = data.draw(st.from_regex(rule.compiled, fullmatch=False))
    lower = text.lower()
    subject, pattern = rule.subject(text, lower)
    if not pattern.search(subject) or (rule.keywords and not any(k in lower for k in rule.keywords)):
        return  # no match, or the keyword test (the engine's rule since before the prefilter) skips it
    runnable = FAST.prefilter.runnable((rule,), text, lower)
    assert runnable is None or runnable == [rule], f"the prefilter skipped {rule.rule_id} on {text!r}"


@pytest.mark.parametrize("rule", [rule for rule in GATED if rule.regex.isascii()], ids=lambda rule: rule.rule_id)
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_ascii_database_covers_ascii_matches_in_any_case(rule, data):
    """An ASCII view takes one caseless pass instead of the lowercased one: a match of the
    rule, its letters' case changed at random where the rule ignores case, still runs it."""
    text = data.draw(st.from_regex(rule.compiled, fullmatch=False, alphabet=st.characters(codec="ascii")))
    if rule.flags & re.IGNORECASE:
        flips = data.draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
        text = "".join(ch.swapcase() if flip else ch for ch, flip in zip(text, flips, strict=True))
    lower = text.lower()
    subject, pattern = rule.subject(text, lower)
    if not pattern.search(subject) or (rule.keywords and not any(k in lower for k in rule.keywords)):
        return
    assert FAST.prefilter.runnable((rule,), text) == [rule], f"the prefilter skipped {rule.rule_id} on {text!r}"


# -- the engine finds the same with the prefilter as with the keyword loop --------------------


def findings(engine: Engine, text: str, direction: str) -> list[tuple]:
    return described(engine, Exchange(direction=direction, dest="collector.example:443", source="127.0.0.1:1",
                        protocol="https", method="POST", url="https://collector.example/v1/upload?q=1",
                        headers=[("content-type", "application/json")], body=text.encode(),
                        content_type="application/json", flow_id="prefilter"))


def described(engine: Engine, exchange: Exchange) -> list[tuple]:
    return [(f.pattern, f.variant, f.location, f.encoding, f.snippet) for f in engine.scan(exchange)]


def _texts() -> list[str]:
    texts = [make() for _rule_id, make in test_rules_exfil.POSITIVES]
    texts += [make() for _pattern, make, _why in test_rules_exfil.NEAR_MISSES]
    texts += [text for _rule_id, text in test_rules_injection.POSITIVES]
    texts += [text for _rule_id, text in test_rules_injection.NEAR_MISSES]
    texts.append(json.dumps({"messages": [{"role": "user", "content": "key " + fakes.openai_project_key()}]}))
    # The same texts in other surroundings and spacing: Hyperscan 0.9.1 once missed a gate's match
    # that depended on a blank run after `;` (the download_then_run rule), which no unmodified
    # positive showed.
    return texts + [variant for text in texts for variant in (
        "x; " + text, text + " ; y", "see:\n" + text + "\nend", text.replace(" ", "  "), text.replace(" ", "\t"))]


TEXTS = _texts()


@pytest.mark.parametrize("direction", [OUTBOUND, INBOUND])
def test_engine_finds_the_same_with_and_without_the_prefilter(direction):
    for text in TEXTS:
        assert findings(FAST, text, direction) == findings(PLAIN, text, direction), text[:200]


def test_benign_traffic_is_judged_the_same_with_and_without_the_prefilter():
    for flow in benign_corpus.all_flows():
        for exchange in flow.exchanges:
            assert described(FAST, exchange) == described(PLAIN, exchange), flow.name
    assert FAST.expected_uses == PLAIN.expected_uses


def test_a_view_that_is_not_valid_utf8_takes_the_keyword_loop():
    lone_surrogate = "sk-proj-" + "\ud800" + "x" * 50
    assert FAST.prefilter.runnable(RULESET, lone_surrogate, lone_surrogate.lower()) is None
    assert findings(FAST, json.dumps({"a": lone_surrogate}), OUTBOUND) == findings(
        PLAIN, json.dumps({"a": lone_surrogate}), OUTBOUND)


def test_prefilter_skips_rules_whose_gate_cannot_match():
    text = "sk-proj-short and the word ignore, but no instruction to ignore anything"
    runnable = {rule.rule_id for rule in FAST.prefilter.runnable(RULESET, text, text.lower())}
    assert "ai_api_key.openai_project" not in runnable  # keyword present, too short for the key
    assert runnable <= {rule.rule_id for rule in RULESET}


@pytest.mark.parametrize("rules", [FAST.by_direction[OUTBOUND], FAST.by_direction[INBOUND], FAST.secret_rules,
                                   RULESET], ids=["outbound", "inbound", "secrets", "all"])
@settings(max_examples=200, deadline=None, derandomize=True)
@given(data=st.data())
def test_the_plan_from_hits_picks_the_rules_the_rule_by_rule_test_picks(rules, data):
    fast = FAST.prefilter
    fast.compile()
    ids = range(fast._compiled.gate_base + len(fast.rules))
    hits = data.draw(st.sets(st.sampled_from(ids), max_size=12))
    assert fast._plan(rules).runnable(rules, hits) == fast._each(rules, hits, "", lower_gates_hold=True)


# -- the base64 pass --------------------------------------------------------------------------

@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(["A", "z", "9", "+", "/", "_", "-", "=", ".", " ", "\n", "\u00e9", "\u212a",
                                 "\ud800", "x" * 23, "Q" * 30]), max_size=40))
def test_the_base64_pass_says_a_view_holds_a_run_exactly_when_base64_runs_finds_one(pieces):
    text = "".join(pieces)
    assert FAST.prefilter.may_hold_base64(text) == any(True for _run in base64_runs(text))


def test_views_are_the_same_with_and_without_the_base64_pass():
    for text in TEXTS:
        assert views(text, 65536, may_hold_base64=FAST.prefilter.may_hold_base64) == views(text, 65536), text[:200]


def test_without_hyperscan_every_view_may_hold_base64():
    assert PLAIN.prefilter.may_hold_base64("short words only")


# -- compiled in a fork -----------------------------------------------------------------------

def test_databases_compiled_in_a_fork_decide_as_those_compiled_here():
    here = FAST.prefilter
    here.compile()
    loaded = prefilter.Prefilter(here.rules)
    loaded._compiled = prefilter.compiled_in_fork(here.rules)
    loaded._scratch = loaded._compiled.scratch()
    assert loaded.gated == here.gated
    for text in TEXTS:
        lower = text.lower()
        assert loaded.runnable(RULESET, text, lower) == here.runnable(RULESET, text, lower), text[:200]
        assert loaded.may_hold_base64(text) == here.may_hold_base64(text)
