"""The ruleset: detection rules as data records with stable pattern ids.

A Rule is a record; adding one is adding a record here (or in exfil.py / injection.py)
plus its positive and near-miss tests. The engine has one generic matching loop.

Why Python's re decides and Hyperscan only prefilters (prefilter.py): every regex here is
written to stay linear on adversarial input (a literal anchor, single-class runs with
bounded or possessive quantifiers, no nested or ambiguous repetition), and
test/detect/test_rules_linear.py proves the bound on crafted near-match inputs for every rule.
One dialect defines every rule, and without Hyperscan every script still runs on a plain
Python and finds the same.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from traffic_guardian.detect.finding import NON_RULE_PATTERNS

EXFIL = "EXFIL"
INJECTION = "INJECTION"


@dataclass(frozen=True)
class Rule:
    pattern: str  # stable public id, listed in SPEC.md; findings carry it as "pattern"
    variant: str  # sub-id within the pattern (the provider, key kind or command shape)
    threat_type: str  # EXFIL | INJECTION
    direction: str  # outbound | inbound
    severity: str  # info | low | medium | high | critical
    description: str
    regex: str
    keywords: tuple[str, ...] = ()  # lowercase literals; the regex runs only if one occurs
    secret: bool = False  # the match (group 'secret', else all) is a credential to mask and bind
    provider: str | None = None  # provider whose hosts and auth locations make a use expected
    public_prefix: str = ""  # kept visible in redacted snippets ('sk-proj-' is not secret)
    validate: Callable[[re.Match, str], bool] | None = None  # extra check on (match, text)
    flags: int = 0
    # The match names a sensitive file, it holds none of its content: in a chat body to one of
    # the operator's own LLM providers it is talk about the file, reported as info (engine.py).
    mention: bool = False
    compiled: re.Pattern = field(init=False, repr=False, compare=False)
    # A case-insensitive rule also compiles without IGNORECASE, to run over the view's
    # lowercased text (which the engine computes for the keyword prefilter anyway): Python's
    # re is several times slower under IGNORECASE. None when the regex has an uppercase literal.
    lowercase_compiled: re.Pattern | None = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "compiled", re.compile(self.regex, self.flags))
        lowercase = None
        if self.flags & re.IGNORECASE and not _has_uppercase_literal(self.regex):
            lowercase = re.compile(self.regex, self.flags & ~re.IGNORECASE)
        object.__setattr__(self, "lowercase_compiled", lowercase)

    def subject(self, text: str, lower: str) -> tuple[str, re.Pattern]:
        """What to match and with which pattern: the lowercased text when that is equivalent.

        Offsets must stay valid for the original text, so the lowercase path needs
        len(lower) == len(text) (a few characters, such as U+0130, lowercase to two).
        """
        if self.lowercase_compiled is not None and len(lower) == len(text):
            return lower, self.lowercase_compiled
        return text, self.compiled

    @property
    def rule_id(self) -> str:
        return f"{self.pattern}.{self.variant}"

    def secret_span(self, match: re.Match) -> tuple[int, int]:
        if "secret" in self.compiled.groupindex and match.group("secret") is not None:
            return match.span("secret")
        return match.span()


_GROUP_SYNTAX = re.compile(r"\(\?P(?:<\w+>|=\w+\))")


def _has_uppercase_literal(regex: str) -> bool:
    """True when regex outside [...] classes names an uppercase letter (not an escape like \\S)."""
    source = _GROUP_SYNTAX.sub("(", regex)
    in_class = escaped = False
    for char in source:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char.isupper():
            return True
    return False


def ruleset_digest(rules: tuple[Rule, ...]) -> str:
    """sha256 over every rule's id, severity and regex: changes whenever detection changes."""
    digest = hashlib.sha256()
    for rule in sorted(rules, key=lambda r: r.rule_id):
        digest.update(f"{rule.rule_id}\0{rule.severity}\0{rule.direction}\0{rule.regex}\n".encode())
    return digest.hexdigest()


def _load() -> tuple[Rule, ...]:
    from .exfil import EXFIL_RULES
    from .injection import INJECTION_RULES
    from .prompt import PROMPT_RULES
    from .service_tokens import SERVICE_TOKENS

    return (*EXFIL_RULES, *SERVICE_TOKENS, *INJECTION_RULES, *PROMPT_RULES)


RULESET: tuple[Rule, ...] = _load()
PATTERN_IDS: tuple[str, ...] = tuple(sorted({rule.pattern for rule in RULESET}))
# Every pattern id a finding can carry: what query.py accepts for --pattern.
FINDING_PATTERN_IDS: tuple[str, ...] = tuple(sorted({*PATTERN_IDS, *NON_RULE_PATTERNS}))
SECRET_RULES: tuple[Rule, ...] = tuple(rule for rule in RULESET if rule.secret)
