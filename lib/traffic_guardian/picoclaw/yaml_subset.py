"""A small, strict reader for the YAML subset PicoClaw writes in .security.yml.

PicoClaw (Go, yaml.v3) writes block mappings, block sequences and scalars, two-space
indented. The guardian must read that file without a third-party YAML library (lib/ is
standard library only), and must never echo what it read: the file holds the operator's
secrets, so every error names a line number and a reason, never the line's text.

Supported: block mappings (plain or quoted keys; keys may contain ':' as in
`gpt-5.4:0:`), block sequences (`- scalar`, `- key: value` maps, `-` with a nested
block), scalars (plain, 'single' with '' escapes, "double" with \\ escapes), comments
(whole-line and after a space), empty flow collections `{}` and `[]`, flow sequences of
scalars `[a, "b"]`, a leading `---`.

Refused with YamlError (strict, so a misread never silently drops a secret): tabs in
indentation, anchors (&), aliases (*), tags (!), block scalars (| and >), multi-line
plain or quoted scalars, non-empty flow mappings, duplicate keys, inconsistent
indentation, more than one document.

Scalars stay strings (no implicit typing), except an empty value, `null` and `~`,
which read as None.
"""

from __future__ import annotations

import re

MAX_DEPTH = 64

_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r",
            "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_NULLS = ("", "null", "Null", "NULL", "~")


class YamlError(ValueError):
    """A document outside the supported subset; the message holds a line number, never content."""

    def __init__(self, line: int, reason: str):
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}")


class _Line:
    __slots__ = ("number", "indent", "text")

    def __init__(self, number: int, indent: int, text: str):
        self.number = number
        self.indent = indent
        self.text = text


def loads(text: str):
    """Parse text; returns a dict, list, str or None (an empty document)."""
    lines = _significant_lines(text)
    if not lines:
        return None
    parser = _Parser(lines)
    value = parser.block(lines[0].indent, depth=0)
    if parser.pos < len(lines):
        raise YamlError(lines[parser.pos].number, "unexpected indentation")
    return value


def _significant_lines(text: str) -> list[_Line]:
    out: list[_Line] = []
    started = False
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.lstrip(" \t")
        if stripped and not stripped.startswith("#") and "\t" in raw[: len(raw) - len(stripped)]:
            raise YamlError(number, "tab in indentation")
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.rstrip() in ("---", "..."):
            if started or stripped.rstrip() == "...":
                raise YamlError(number, "only one document is supported")
            started = True
            continue
        started = True
        out.append(_Line(number, len(raw) - len(stripped), stripped.rstrip()))
    return out


class _Parser:
    def __init__(self, lines: list[_Line]):
        self.lines = lines
        self.pos = 0

    def block(self, indent: int, depth: int):
        if depth > MAX_DEPTH:
            raise YamlError(self.lines[self.pos].number, "nesting too deep")
        line = self.lines[self.pos]
        if line.text == "-" or line.text.startswith("- "):
            return self.sequence(indent, depth)
        return self.mapping(indent, depth)

    def mapping(self, indent: int, depth: int) -> dict:
        result: dict = {}
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            if line.indent < indent:
                break
            if line.indent > indent:
                raise YamlError(line.number, "unexpected indentation")
            if line.text == "-" or line.text.startswith("- "):
                raise YamlError(line.number, "sequence item where a mapping key was expected")
            key, rest = _split_key(line.text, line.number)
            if key in result:
                raise YamlError(line.number, "duplicate key")
            self.pos += 1
            result[key] = self.value_after_key(rest, indent, line.number, depth)
        return result

    def value_after_key(self, rest: str, indent: int, number: int, depth: int):
        if rest:
            return _inline_value(rest, number)
        if self.pos < len(self.lines):
            nxt = self.lines[self.pos]
            if nxt.indent > indent:
                return self.block(nxt.indent, depth + 1)
            # yaml.v3 writes "key:\n- item" with the dash at the key's own indentation.
            if nxt.indent == indent and (nxt.text == "-" or nxt.text.startswith("- ")):
                return self.sequence(indent, depth + 1)
        return None

    def sequence(self, indent: int, depth: int) -> list:
        result: list = []
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            if line.indent < indent or not (line.text == "-" or line.text.startswith("- ")):
                if line.indent > indent:
                    raise YamlError(line.number, "unexpected indentation")
                break
            if line.indent > indent:
                raise YamlError(line.number, "unexpected indentation")
            body = line.text[1:].lstrip(" ")
            if not body:
                self.pos += 1
                if self.pos < len(self.lines) and self.lines[self.pos].indent > indent:
                    result.append(self.block(self.lines[self.pos].indent, depth + 1))
                else:
                    result.append(None)
                continue
            item_indent = indent + (len(line.text) - len(body))
            if _looks_like_key(body):
                # "- key: value" opens a mapping whose keys align with "key".
                self.lines[self.pos] = _Line(line.number, item_indent, body)
                result.append(self.mapping(item_indent, depth + 1))
            else:
                self.pos += 1
                result.append(_inline_value(body, line.number))
        return result


def _looks_like_key(text: str) -> bool:
    if text[0] in "\"'":
        quote = text[0]
        end = _closing_quote(text, quote)
        return end is not None and text[end + 1:].startswith(":")
    if text[0] in "[{":
        return False
    return _plain_key_end(text) is not None


def _plain_key_end(text: str) -> int | None:
    """Index of the ':' ending a plain key: the first ': ' or a ':' ending the line."""
    hit = re.search(r":(?: |$)", text)
    if hit is None:
        return None
    comment = re.search(r"(?:^| )#", text)
    if comment is not None and comment.start() < hit.start():
        return None
    return hit.start()


def _split_key(text: str, number: int) -> tuple[str, str]:
    if text[0] in "\"'":
        end = _closing_quote(text, text[0])
        if end is None or not text[end + 1:].startswith(":"):
            raise YamlError(number, "malformed quoted key")
        key = _quoted(text[: end + 1], number)
        rest = text[end + 2:]
    else:
        if text[0] in "&*!|>[{?%@`":
            raise YamlError(number, "unsupported YAML feature in key")
        colon = _plain_key_end(text)
        if colon is None:
            raise YamlError(number, "expected 'key: value'")
        key = text[:colon].rstrip()
        rest = text[colon + 1:]
    if rest and not rest.startswith(" "):
        raise YamlError(number, "expected a space after ':'")
    return key, rest.strip()


def _inline_value(text: str, number: int):
    text = _strip_comment(text, number)
    if not text:
        return None
    first = text[0]
    if first in "\"'":
        end = _closing_quote(text, first)
        if end is None:
            raise YamlError(number, "unterminated quoted scalar (multi-line scalars are not supported)")
        if text[end + 1:].strip():
            raise YamlError(number, "text after a quoted scalar")
        return _quoted(text, number)
    if first == "{":
        if text.replace(" ", "") == "{}":
            return {}
        raise YamlError(number, "flow mappings are not supported")
    if first == "[":
        return _flow_sequence(text, number)
    if first in "&*!|>%@`":
        raise YamlError(number, "unsupported YAML feature (anchor, alias, tag or block scalar)")
    if first in "-?:" and text[1:2] in ("", " "):
        raise YamlError(number, "unsupported YAML feature in value")
    if ": " in text:
        raise YamlError(number, "mapping in a value position")
    return None if text in _NULLS else text


def _strip_comment(text: str, number: int) -> str:
    if text[:1] in "\"'":
        end = _closing_quote(text, text[0])
        if end is None:
            return text
        tail = text[end + 1:]
        hit = re.search(r"(?:^|\s)#", tail)
        return (text[: end + 1] + (tail[: hit.start()] if hit else tail)).strip()
    hit = re.search(r"(?:^|\s)#", text)
    return (text[: hit.start()] if hit else text).strip()


def _flow_sequence(text: str, number: int) -> list:
    if not text.endswith("]"):
        raise YamlError(number, "multi-line flow sequences are not supported")
    inner = text[1:-1].strip()
    if not inner:
        return []
    items: list = []
    pos = 0
    while pos <= len(inner):
        while pos < len(inner) and inner[pos] == " ":
            pos += 1
        if pos < len(inner) and inner[pos] in "\"'":
            end = _closing_quote(inner[pos:], inner[pos])
            if end is None:
                raise YamlError(number, "unterminated quoted scalar in flow sequence")
            items.append(_quoted(inner[pos: pos + end + 1], number))
            pos += end + 1
            rest = inner[pos:].lstrip(" ")
            if rest and not rest.startswith(","):
                raise YamlError(number, "malformed flow sequence")
            pos = len(inner) - len(rest) + 1
            if not rest:
                break
            continue
        comma = inner.find(",", pos)
        piece = (inner[pos:] if comma < 0 else inner[pos:comma]).strip()
        if not piece or piece[0] in "[{&*!|>":
            raise YamlError(number, "unsupported item in flow sequence")
        items.append(None if piece in _NULLS else piece)
        if comma < 0:
            break
        pos = comma + 1
    return items


def _closing_quote(text: str, quote: str) -> int | None:
    index = 1
    while index < len(text):
        char = text[index]
        if quote == '"' and char == "\\":
            index += 2
            continue
        if char == quote:
            if quote == "'" and text[index + 1: index + 2] == "'":
                index += 2
                continue
            return index
        index += 1
    return None


def _quoted(text: str, number: int) -> str:
    body = text[1:-1]
    if text[0] == "'":
        return body.replace("''", "'")
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        code = body[index + 1: index + 2]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            index += 2
        elif code in _HEX_ESCAPES:
            width = _HEX_ESCAPES[code]
            digits = body[index + 2: index + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise YamlError(number, "malformed escape in double-quoted scalar")
            out.append(chr(int(digits, 16)))
            index += 2 + width
        else:
            raise YamlError(number, "unknown escape in double-quoted scalar")
    return "".join(out)
