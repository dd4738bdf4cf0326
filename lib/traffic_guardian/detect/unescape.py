"""Readings of text with its character escapes undone, each mapping its characters back to the raw bytes.

Redaction needs them: a secret can sit in text spelled with escapes for some or all of its
characters (JSON `\\u0041` or `\\/`, `\\\\u0041` when JSON sits inside JSON; `%41` or
`%2541` in URLs and forms; `&#65;`, `&#x41;` or `&amp;#65;` in HTML), and no exact encoded
form of the whole secret finds a mixture. Searching a reading and mapping each hit back to
its raw span masks every escaped spelling.

Layers of different kinds must be undone in the order they were made (an outer layer can
escape part of an inner layer's escape: `%5c\\u0041` is a URL-encoded JSON `\\\\u0041`),
and the order is unknown, so a reading is one path of single-kind passes, and
`readings()` walks them breadth first: every order up to MAX_PASSES layers, skipping a
pass that reveals nothing (below) or repeats a reading, at most MAX_READINGS in all. An entity's
';' may be missing, as in HTML, except before another escape: `&#7%32%3b` is `&#72;` one
layer down, not `&#7` and a '2'.

Linear: each token starts at a backslash, `%` or `&`, and its only repetitions are runs of
one character class ahead of a fixed tail; the walk is bounded by MAX_READINGS passes.
"""

from __future__ import annotations

import bisect
import html.entities
import re

MAX_PASSES = 4  # layers undone: JSON in JSON in a URL-encoded form is three
MAX_READINGS = 40  # passes in all, whatever the text: a bound on work per redacted text
KINDS = ("json", "percent", "html")

_TOKENS = {
    "json": re.compile(r"\\(?:u(?P<u>[0-9a-fA-F]{4})|(?P<short>[\"\\/bfnrt]))"),
    "percent": re.compile(r"%(?:25)*(?P<pct>[0-9a-fA-F]{2})"),
    "html": re.compile(r"&(?:amp;)*(?:#(?P<dec>[0-9]{1,7}+)|#[xX](?P<hex>[0-9a-fA-F]{1,6}+)"
                       r"|(?P<name>[A-Za-z][A-Za-z0-9]{1,15}+)(?=;))(?:;|(?![%\\&]))"),
}
_ESCAPE_START = {"json": "\\", "percent": "%", "html": "&"}
# A layer is worth a reading only if it decodes a character a secret is made of, or an
# escape that the next layer decodes: JSON's everyday '\\n' and '\\"', or a URL's '%20',
# reveal nothing, and most traffic then costs no reading at all.
_REVEALING = "-_.:/+=\\%&"
# A quick C-speed test before a pass: can this kind reveal anything in the text at all?
_MAY_REVEAL = {
    "json": re.compile(r"\\(?:u[0-9a-fA-F]{4}|[\\/])"),
    "percent": re.compile(r"%(?:25)*(?:[013-9a-fA-F][0-9a-fA-F]|2[1-9a-fA-F])"),
    "html": re.compile(r"&(?:amp;)*(?:#|[A-Za-z][A-Za-z0-9]{1,15};)"),
}
_SHORT = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
# HTML5's named references that stand for one character ('&sol;' is '/', '&lowbar;' is '_').
_NAMED = {name[:-1]: value for name, value in html.entities.html5.items() if name.endswith(";") and len(value) == 1}


def may_hold_escapes(text: str) -> bool:
    return "\\" in text or "%" in text or "&" in text


def _decoded(kind: str, match: re.Match) -> str | None:
    if kind == "json":
        if match.group("u") is not None:
            return chr(int(match.group("u"), 16))
        return _SHORT[match.group("short")]
    if kind == "percent":
        return chr(int(match.group("pct"), 16))
    number = match.group("dec") or match.group("hex")
    if number is not None:
        code = int(number, 10 if match.group("dec") is not None else 16)
        return chr(code) if 0 < code <= 0x10FFFF else None
    return _NAMED.get(match.group("name"))


class _Layer:
    """One pass of one kind: the decoded text and, per decoded segment, where it came from."""

    def __init__(self, raw: str, kind: str):
        pieces: list[str] = []
        # Segments: (decoded start, raw start, raw end, is_token); a token decodes to one character.
        self.starts: list[int] = []
        self.segments: list[tuple[int, int, bool]] = []
        decoded_at, cursor, revealing = 0, 0, False
        for match in _TOKENS[kind].finditer(raw):
            char = _decoded(kind, match)
            if char is None:
                continue
            revealing = revealing or char.isalnum() or char in _REVEALING
            if match.start() > cursor:
                self._add(decoded_at, cursor, match.start(), False)
                pieces.append(raw[cursor:match.start()])
                decoded_at += match.start() - cursor
            self._add(decoded_at, match.start(), match.end(), True)
            pieces.append(char)
            decoded_at += 1
            cursor = match.end()
        if cursor < len(raw):
            self._add(decoded_at, cursor, len(raw), False)
            pieces.append(raw[cursor:])
        self.text = "".join(pieces)
        self.revealing = revealing


    def _add(self, decoded_at: int, raw_start: int, raw_end: int, is_token: bool) -> None:
        self.starts.append(decoded_at)
        self.segments.append((raw_start, raw_end, is_token))

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """The raw span holding decoded characters [start, end)."""
        return self._raw_start(start), self._raw_end(end - 1)

    def _locate(self, index: int) -> tuple[int, int, int, bool]:
        at = bisect.bisect_right(self.starts, index) - 1
        return (self.starts[at], *self.segments[at])

    def _raw_start(self, index: int) -> int:
        decoded_start, raw_start, _raw_end, is_token = self._locate(index)
        return raw_start if is_token else raw_start + index - decoded_start

    def _raw_end(self, index: int) -> int:
        decoded_start, raw_start, raw_end, is_token = self._locate(index)
        return raw_end if is_token else raw_start + index - decoded_start + 1


class Reading:
    """text after some passes (layers, outermost first); raw_span maps a span of it back."""

    def __init__(self, text: str, layers: tuple[_Layer, ...] = ()):
        self.text = text
        self.layers = layers

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        for layer in reversed(self.layers):
            start, end = layer.raw_span(start, end)
        return start, end


def readings(raw: str) -> list[Reading]:
    """Every reading of raw with at least one layer undone (none if raw has no escapes)."""
    found: list[Reading] = []
    seen = {raw}
    frontier = [Reading(raw)]
    passes = 0
    for _depth in range(MAX_PASSES):
        next_frontier = []
        for reading in frontier:
            for kind in KINDS:
                if _ESCAPE_START[kind] not in reading.text or not _MAY_REVEAL[kind].search(reading.text):
                    continue
                if passes >= MAX_READINGS:
                    return found
                passes += 1
                layer = _Layer(reading.text, kind)
                if layer.revealing and layer.text not in seen:
                    seen.add(layer.text)
                    next_frontier.append(Reading(layer.text, (*reading.layers, layer)))
        found += next_frontier
        frontier = next_frontier
    return found
