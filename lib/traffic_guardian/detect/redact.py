"""Redaction: the only way traffic text becomes something we write or print.

A secret is replaced by a token that keeps what an operator needs to triage (the rule,
a short public prefix such as 'sk-proj', the length, and a salted fingerprint to tell two
keys apart) and nothing that helps reuse it. Masking works on spans computed over the
whole scanned text, not on the snippet window, so a secret cut in half by the window
edge is still masked. Values assigned to credential-named keys (assignments.py) are
masked too, found around the window, since only the window shows them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from urllib.parse import quote, quote_plus

from traffic_guardian.detect.assignments import ASSIGNED_LABEL, ASSIGNMENT_REACH, MAX_ASSIGNED_VALUE, assignment_spans

# Characters that would make a snippet span lines or read differently from what it holds:
# controls, zero-width and invisible operators, bidi embeddings, overrides and isolates,
# and Unicode tag characters.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\U000e0000-\U000e007f]")
_WHITESPACE_RUN = re.compile(r"\s+")


class Redactor:
    """Masks secret values; the salt makes fingerprints unlinkable outside this home."""

    def __init__(self, salt: bytes | None = None):
        self.salt = salt if salt is not None else os.urandom(32)

    def fingerprint(self, value: str) -> str:
        return hmac.new(self.salt, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:12]

    def mask(self, value: str, label: str, public_prefix: str = "") -> str:
        prefix = value[: len(public_prefix)] if public_prefix and value.startswith(public_prefix) else ""
        prefix = prefix[:8]
        shown = f" {prefix}" if prefix else ""
        return f"[REDACTED {label}{shown} len={len(value)} fp={self.fingerprint(value)}]"

    def snippet(
        self,
        text: str,
        start: int,
        end: int,
        context: int,
        spans: list[tuple[int, int, str, str]],
    ) -> str:
        """Window [start-context, end+context] of text with every secret span masked.

        spans: (start, end, label, public_prefix) of every secret found in the whole text.
        """
        lo = max(0, start - context)
        hi = min(len(text), end + context)
        # Widen the window to whole secrets so a masked token is never half inside it.
        for s_start, s_end, _label, _prefix in spans:
            if s_start < hi and s_end > lo:
                lo, hi = min(lo, s_start), max(hi, s_end)
        # Values assigned to credential-named keys, looked for around the window only: a
        # key of its own width before it, a value of the longest masked length after.
        around = max(0, lo - ASSIGNMENT_REACH)
        assigned = [(a + around, b + around, label, prefix) for a, b, label, prefix
                    in assignment_spans(text[around:hi + MAX_ASSIGNED_VALUE])]
        assigned = [span for span in assigned if span[0] < hi and span[1] > lo]
        for s_start, s_end, _label, _prefix in assigned:
            lo, hi = min(lo, s_start), max(hi, s_end)
        spans = [*spans, *assigned]
        pieces: list[str] = []
        cursor = lo
        for s_start, s_end, label, prefix in merge_spans(spans):
            if s_end <= lo or s_start >= hi:
                continue
            pieces.append(_clean(text[cursor:s_start]))
            pieces.append(self.mask(text[s_start:s_end], label, prefix))
            cursor = s_end
        pieces.append(_clean(text[cursor:hi]))
        body = "".join(pieces).strip()
        return ("…" if lo > 0 else "") + body + ("…" if hi < len(text) else "")


MAX_ENCODED_HITS = 64  # per form: a bound on masking work, far above any real snippet's needs


def encoded_forms(value: str) -> set[str]:
    """How a secret can sit in text without its raw form showing.

    URL-encoded (upper- and lowercase escapes, '+' for space), JSON-escaped, and base64 or
    base64url at each of the 3 byte alignments (the inner characters that depend on the
    secret alone). A secret found only in a decoded view must be masked in these forms in
    every other view's snippet, or the context around another finding would carry it.
    """
    quoted = {quote(value, safe=""), quote(value), quote_plus(value)}
    forms = quoted | {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), q) for q in quoted}
    escaped = json.dumps(value)[1:-1]
    forms |= {escaped, escaped.replace("/", "\\/")}
    raw = value.encode("utf-8", "surrogatepass")
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        inner = encoded[4 if shift else 0 : -4]
        forms |= {inner, inner.replace("+", "-").replace("/", "_")}
    return {form for form in forms if form != value and len(form) >= 8}


def encoded_spans(text: str, secrets: dict[str, tuple[str, str]]) -> list[tuple[int, int, str, str]]:
    """Spans of text holding an encoded form of a secret; secrets maps value -> (label, prefix)."""
    spans: list[tuple[int, int, str, str]] = []
    for value, (label, _prefix) in secrets.items():
        for form in encoded_forms(value):
            start = text.find(form)
            hits = 0
            while start != -1 and hits < MAX_ENCODED_HITS:
                spans.append((start, start + len(form), label, ""))
                start = text.find(form, start + 1)
                hits += 1
    return spans


def merge_spans(spans: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str, str]]:
    """Sorted, non-overlapping spans: overlapping secrets are masked as one, under a rule's
    label rather than ASSIGNED_LABEL when both cover it (the rule says what it is)."""
    merged: list[tuple[int, int, str, str]] = []
    for span in sorted(spans):
        if merged and span[0] < merged[-1][1]:
            last = merged[-1]
            label, prefix = (span[2], span[3]) if last[2] == ASSIGNED_LABEL else (last[2], last[3])
            merged[-1] = (last[0], max(last[1], span[1]), label, prefix)
        else:
            merged.append(span)
    return merged


def _clean(text: str) -> str:
    return _WHITESPACE_RUN.sub(" ", _UNPRINTABLE.sub(" ", text))
