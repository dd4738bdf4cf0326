"""Checks a regex cannot express cheaply: entropy, checksums, context on the same line.

Each takes (match, text) and returns True to keep the match. They exist for precision:
placeholders like sk-xxxxxxxx... and prose that merely mentions a command must not fire.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter


def shannon_entropy(value: str) -> float:
    if not value:
        return 0.0
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _secret_of(match: re.Match) -> str:
    return match.group("secret") if "secret" in match.re.groupindex else match.group(0)


def high_entropy(threshold: float) -> callable:
    """Reject low-entropy matches (placeholders, repeated characters, sample values)."""

    def check(match: re.Match, _text: str) -> bool:
        return shannon_entropy(_secret_of(match)) >= threshold

    return check


def mixed_alnum_entropy(threshold: float) -> callable:
    """Real keys mix letters and digits; 'sk-thisisnotakeybutaverylongword' does not."""

    def check(match: re.Match, _text: str) -> bool:
        value = _secret_of(match)
        return (
            any(c.isdigit() for c in value)
            and any(c.isalpha() for c in value)
            and shannon_entropy(value) >= threshold
        )

    return check


def discord_token(match: re.Match, _text: str) -> bool:
    """A Discord bot token's first segment is the bot's numeric user id in base64."""
    first = _secret_of(match).split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))
    except (binascii.Error, ValueError):
        return False
    return decoded.isdigit() and 15 <= len(decoded) <= 21


_DOWNLOADER = re.compile(r"\b(?:curl|wget|fetch|aria2c|Invoke-WebRequest|iwr)\b")


def downloader_earlier_on_line(match: re.Match, text: str) -> bool:
    """'| bash' counts as pipe-to-shell only when a downloader feeds the same line."""
    line_start = text.rfind("\n", 0, match.start()) + 1
    window_start = max(line_start, match.start() - 400)
    return _DOWNLOADER.search(text, window_start, match.start()) is not None


_RECURSIVE_OPTION = re.compile(r"(?:^|\s)(?:-[a-zA-Z]*[rR][a-zA-Z]*|--recursive)(?=\s|$)")


def recursive_rm(match: re.Match, _text: str) -> bool:
    """rm targets a root-like path AND carries -r/-R/--recursive among its options."""
    return _RECURSIVE_OPTION.search(match.group("opts")) is not None
