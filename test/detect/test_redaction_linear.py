"""Redaction stays linear on adversarial text (SPEC.md sections 5 and 7): the credential-
assignment regex and the escape readings run on every snippet's whole text and on every
log line, so a hostile body must not make them backtrack or multiply work.
"""

from __future__ import annotations

import time

import pytest

import fakes
from traffic_guardian.detect.assignments import assignment_spans
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.unescape import MAX_READINGS, readings

SIZE = 262144
PROBE = 32768
PROBE_BOUND_SECS = 0.2  # linear: well under 25 ms for 32 KiB
BOUND_SECS = 10.0  # a hang guard for a whole 256 KiB text, not a benchmark


def _fill(unit: str, size: int = SIZE) -> str:
    return (unit * (size // len(unit) + 1))[:size]


ADVERSARIAL = {
    "keyword-glued": _fill("password"),
    "keyword-separator": _fill("password= "),
    "keyword-then-run": "token=" + "a" * SIZE,
    "quotes-unclosed": _fill('api_key: "aaaa'),
    "backslashes": "\\" * SIZE,
    "escaped-quotes": _fill('secret=\\"'),
    "percent-25-run": "%" + "25" * (SIZE // 2),
    "amp-run": "&" + "amp;" * (SIZE // 4),
    "entity-digits": "&#" + "1" * SIZE,
    "u-escapes": _fill("\\u0041"),
    "mixed-escapes": _fill("%5c\\u00&#37;41"),
}


def _elapsed(work, text: str) -> float:
    start = time.perf_counter()
    work(text)
    return time.perf_counter() - start


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_assignment_regex_is_linear(name):
    text = ADVERSARIAL[name]
    assert _elapsed(assignment_spans, text[:PROBE]) < PROBE_BOUND_SECS
    assert _elapsed(assignment_spans, text) < BOUND_SECS


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_escape_readings_are_linear_and_bounded(name):
    text = ADVERSARIAL[name]
    assert _elapsed(readings, text[:PROBE]) < PROBE_BOUND_SECS * MAX_READINGS
    assert len(readings(text)) <= MAX_READINGS


def test_redacting_a_hostile_text_full_of_escapes_and_secrets_is_bounded():
    """The worst case for secret_spans: every escape kind nested, a key spelled in it, a finding to redact."""
    key = fakes.openai_project_key()
    spelled = "".join(f"%5Cu{ord(c):04x}" for c in key)
    text = _fill(f"cat ~/.ssh/id_rsa {spelled} &amp;#37; password=\\\"x{key}\\\" ")
    engine = Engine()
    start = time.perf_counter()
    spans = engine.secret_spans(text)
    assert time.perf_counter() - start < BOUND_SECS
    assert spans
