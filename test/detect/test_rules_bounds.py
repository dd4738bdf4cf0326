"""Key boundaries (rules/exfil.py `_bounded`): the lookbehind that keeps key material from
being glued to more key characters sits after the pattern's fixed-width lead, where re can
skip to the lead's occurrences, and it finds exactly what the leading lookbehind found."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traffic_guardian.detect.rules import exfil

LEADS = [  # (key regex as a rule writes it, the lead the lookbehind follows)
    (r"sk-[A-Za-z0-9]{32,64}+", "sk-"),
    (r"gh[pousr]_[A-Za-z0-9]{36}", "gh"),
    (r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}", "(?:AKIA|ASIA|ABIA|ACCA)"),
    (r"[sr]k_live_[A-Za-z0-9]{16,99}+", "[sr]k_live_"),
    (r"[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}", "[MNO]"),
]
NO_LEAD = [  # no fixed width to put the lookbehind after: it stays first
    r"(?:AB|CDE)[A-Z]{8}",  # words of different lengths
    r"[A-Z]{4}[0-9]{8}",  # a quantified class
    r"a{3}[0-9]{8}",  # a quantified first character
]
# Characters that decide a boundary (key characters and others) and the leads' own letters.
_AROUND = st.text(alphabet="aZ9_-. \n/=", max_size=3)


@pytest.mark.parametrize(("regex", "lead"), LEADS)
def test_lookbehind_follows_the_fixed_width_lead(regex, lead):
    bounded = exfil._bounded(regex)
    assert bounded.startswith(lead + "(?<![A-Za-z0-9_-]" + lead + ")")
    assert bounded.endswith(exfil._E)


@pytest.mark.parametrize("regex", NO_LEAD)
def test_lookbehind_stays_first_without_a_fixed_width_lead(regex):
    assert exfil._bounded(regex) == exfil._B + regex + exfil._E


@pytest.mark.parametrize(("regex", "_lead"), LEADS)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_moved_lookbehind_finds_what_the_leading_one_finds(regex, _lead, data):
    keys = data.draw(st.lists(st.from_regex(regex, fullmatch=True), min_size=1, max_size=3))
    text = "".join(data.draw(_AROUND) + key for key in keys) + data.draw(_AROUND)
    leading = re.compile(exfil._B + regex + exfil._E)
    moved = re.compile(exfil._bounded(regex))
    assert [m.span() for m in moved.finditer(text)] == [m.span() for m in leading.finditer(text)]
