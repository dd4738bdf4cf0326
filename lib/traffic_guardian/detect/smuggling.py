"""Unicode smuggling: invisible characters that carry text or disguise its order.

Tag characters (U+E0000..U+E007F) mirror ASCII and render as nothing: a fetched page can
carry "ignore previous instructions" that no human sees and every model reads. Long runs
of zero-width characters encode bits. Bidi overrides and isolates make text display in
an order other than the one a machine reads (Trojan Source). Stray zero-width characters
inside a word (ig\\u200bnore) split it so a keyword never matches.

hidden_text() builds the `unicode` view that every rule scans: tag runs decoded to ASCII
inside a visible marker (⟦tags:...⟧), decodable zero-width runs likewise (⟦zero-width:...⟧),
each decoded text ending its line (so a hidden command ends where a command line ends),
each bidi control named (⟦bidi:RLO⟧), and stray zero-width characters removed. The
markers are what the unicode_smuggling rules match, so a finding's snippet shows the
hidden text instead of invisible characters, and the decoded text sits inline where the
other rules (pipe_to_shell, prompt_injection, ...) see it.
"""

from __future__ import annotations

import re
from collections import Counter

TAG_MARK = "⟦tags:"
ZERO_WIDTH_MARK = "⟦zero-width:"
BIDI_MARK = "⟦bidi:"
MARK_END = "⟧"
MIN_ZERO_WIDTH_RUN = 8  # emoji ZWJ sequences and Persian ZWNJ never put this many in a row
MAX_DECODED = 4000

_ZW = "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u180e"
_BIDI_NAMES = {"\u202a": "LRE", "\u202b": "RLE", "\u202c": "PDF", "\u202d": "LRO", "\u202e": "RLO",
               "\u2066": "LRI", "\u2067": "RLI", "\u2068": "FSI", "\u2069": "PDI"}
_BIDI = "".join(_BIDI_NAMES)
# Cheap check: is there anything the view would change in a way that matters? A lone ZWJ
# between emoji is not worth a second pass of every rule; a zero-width inside a word is.
_SIGNAL = re.compile(f"[\U000e0000-\U000e007f{_BIDI}]|[{_ZW}]{{{MIN_ZERO_WIDTH_RUN}}}|[A-Za-z][{_ZW}]")
_HIDDEN = re.compile(f"[\U000e0000-\U000e007f]+|[{_ZW}]+|[{_BIDI}]")
_MARK_BREAKERS = re.compile(r"[⟦⟧\x00-\x1f\x7f-\x9f]")


def hidden_text(text: str) -> str | None:
    """The text with smuggled characters decoded or named; None when it has none worth it."""
    # Every signal character is non-ASCII, and isascii() is O(1) on str: plain ASCII traffic
    # (most of it) skips the regex pass entirely.
    if text.isascii() or not _SIGNAL.search(text):
        return None
    decoded = _HIDDEN.sub(_reveal, text)
    return decoded if decoded != text else None


def _reveal(match: re.Match) -> str:
    run = match.group(0)
    first = run[0]
    if first in _BIDI_NAMES:
        return f"{BIDI_MARK}{_BIDI_NAMES[first]}{MARK_END}"
    if "\U000e0000" <= first <= "\U000e007f":
        ascii_text = "".join(chr(ord(ch) - 0xE0000) for ch in run if 0xE0020 <= ord(ch) <= 0xE007E)
        return f"{TAG_MARK}{ascii_text[:MAX_DECODED]}\n{MARK_END}" if ascii_text else ""
    if len(run) < MIN_ZERO_WIDTH_RUN:
        return ""
    message = decode_zero_width(run)
    shown = message if message is not None else f"{len(run)} characters"
    return f"{ZERO_WIDTH_MARK}{shown}\n{MARK_END}"


def decode_zero_width(run: str) -> str | None:
    """Text hidden as bits in a zero-width run, when it is one of the common encodings.

    Two distinct characters are the bits of 8-bit bytes; with a third, the rarest one
    separates characters of any bit width. Both bit assignments are tried; the result
    must be mostly printable or it is not a message.
    """
    counts = Counter(run)
    if len(counts) == 3:
        separator = min(counts, key=counts.get)
        groups = [group for group in run.split(separator) if group]
        bits = [ch for ch in counts if ch != separator]
    elif len(counts) == 2:
        bits = list(counts)
        groups = [run[i : i + 8] for i in range(0, len(run) - len(run) % 8, 8)]
    else:
        return None
    for zero, one in ((bits[0], bits[1]), (bits[1], bits[0])):
        try:
            chars = [chr(int(group.replace(zero, "0").replace(one, "1"), 2)) for group in groups
                     if len(group) <= 21]
        except ValueError:
            continue
        message = "".join(chars)
        printable = sum(1 for ch in message if ch.isprintable())
        if len(message) >= 2 and printable >= 0.9 * len(message):
            return _MARK_BREAKERS.sub(" ", message)[:MAX_DECODED]
    return None
