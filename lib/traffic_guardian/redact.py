"""Redaction: the only way traffic text becomes something we write or print.

A secret is replaced by a token that keeps what an operator needs to triage (the rule,
a short public prefix such as 'sk-proj', the length, and a salted fingerprint to tell two
keys apart) and nothing that helps reuse it. Masking works on spans computed over the
whole scanned text, not on the snippet window, so a secret cut in half by the window
edge is still masked.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re

# Characters that would make a snippet span lines or hide text in a terminal.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
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


def merge_spans(spans: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str, str]]:
    """Sorted, non-overlapping spans: overlapping secrets are masked as one."""
    merged: list[tuple[int, int, str, str]] = []
    for span in sorted(spans):
        if merged and span[0] < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], span[1]), last[2], last[3])
        else:
            merged.append(span)
    return merged


def _clean(text: str) -> str:
    return _WHITESPACE_RUN.sub(" ", _UNPRINTABLE.sub(" ", text))
