"""Stream framing: whole events and JSON values out of byte chunks split anywhere.

An LLM response streams as Server-Sent Events or as a sequence of JSON values (Gemini's
array, NDJSON), cut into TCP reads at arbitrary bytes: mid-line, mid-string, mid-UTF-8
sequence. These two parsers find the event and value boundaries in linear time and hand
each whole one on, bounded by a byte limit (what is cut there is counted and marked, not
kept). What the events mean, per provider dialect, is llm_streams.py's job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

_EOL = re.compile(rb"\r\n?|\n")
_STRING_STOP = re.compile(rb'["\\]')
_STRUCTURE = re.compile(rb'[\[\]{}"]')


class SSEParser:
    """WHATWG event-stream parsing over bytes: CR, LF or CRLF line ends (a CRLF may be split
    between chunks), comments, multi-line data, event names.

    Lines are split on bytes and decoded only when complete, so a UTF-8 sequence cut by a
    chunk boundary is never decoded in halves. A line or event longer than the limit is
    cut there, counted, and handed over marked truncated (its JSON cannot be parsed).
    """

    def __init__(self, limit: int, on_event: Callable[[str, str, bool], None]):
        self.limit = limit
        self.on_event = on_event
        self.partial = bytearray()
        self.overflow = False  # the current line passed the limit: count the rest of it
        self.skip_lf = False  # the previous chunk ended in CR: a leading LF belongs to it
        self.started = False
        self.event = ""
        self.data: list[str] = []
        self.data_len = 0
        self.truncated = False
        self.dropped_bytes = 0

    def feed(self, data: bytes) -> None:
        if self.skip_lf and data[:1] == b"\n":
            data = data[1:]
        self.skip_lf = False
        start = 0
        for eol in _EOL.finditer(data):
            self._extend(data[start:eol.start()])
            self._end_line()
            start = eol.end()
            if eol.group() == b"\r" and start == len(data):
                self.skip_lf = True
        self._extend(data[start:])

    def finish(self) -> None:
        # Lenient at the end: a last line or event without its blank line is still read,
        # since some clients act on it and hiding a payload there must not work.
        if self.partial or self.overflow:
            self._end_line()
        self._dispatch()

    def _extend(self, piece: bytes) -> None:
        if not piece:
            return
        room = max(0, self.limit - len(self.partial))
        if len(piece) > room:
            self.dropped_bytes += len(piece) - room
            self.overflow = True
            piece = piece[:room]
        self.partial += piece

    def _end_line(self) -> None:
        if self.overflow:
            self.overflow = False
            self.truncated = True
        line = self.partial.decode("utf-8", "replace")
        self.partial.clear()
        if not self.started:
            self.started = True
            line = line.removeprefix("\ufeff")
        if not line:
            self._dispatch()
            return
        if line.startswith(":"):
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            room = max(0, self.limit - self.data_len)
            if len(value) > room:
                self.truncated = True
                self.dropped_bytes += len(value) - room
                value = value[:room]
            self.data.append(value)
            self.data_len += len(value) + 1
        elif name == "event":
            self.event = value

    def _dispatch(self) -> None:
        data, event, truncated = "\n".join(self.data), self.event, self.truncated
        had_data = bool(self.data)
        self.data, self.data_len, self.event, self.truncated = [], 0, "", False
        if had_data:
            self.on_event(event, data, truncated)


class JSONSequence:
    """Complete JSON values out of a byte stream: the elements of a JSON array sent piece by
    piece (Gemini's streamGenerateContent without alt=sse), or NDJSON / concatenated values.

    It tracks only nesting and string state and jumps between structural bytes with a
    regex, so the cost is linear and each element is parsed once, when it closes.
    """

    def __init__(self, limit: int, on_value: Callable[[object], None], on_raw: Callable[[bytes], None]):
        self.limit = limit
        self.on_value = on_value
        self.on_raw = on_raw  # what could not be parsed: the first `limit` bytes of it
        self.raw: bytearray | None = None  # the body does not start like JSON: keep it as text
        self.base: int | None = None  # nesting depth of elements: 1 inside an outer array, else 0
        self.depth = 0
        self.in_string = False
        self.escape = False
        self.element: bytearray | None = None
        self.overflow = False
        self.dropped_bytes = 0

    def feed(self, data: bytes) -> None:
        i, n = 0, len(data)
        if self.raw is not None:
            self._keep_raw(data)
            return
        if self.base is None:
            body = data.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()
            if not body:
                return
            i = n - len(body)
            if body[:1] == b"[":
                self.base, self.depth, i = 1, 1, i + 1
            elif body[:1] == b"{":
                self.base = 0
            else:
                self.raw = bytearray()
                self._keep_raw(body)
                return
        start = i if self.element is not None else None
        while i < n:
            if self.escape:
                self.escape = False
                i += 1
                continue
            if self.in_string:
                stop = _STRING_STOP.search(data, i)
                if stop is None:
                    break
                i = stop.end()
                if stop.group() == b"\\":
                    self.escape = True
                else:
                    self.in_string = False
                continue
            mark = _STRUCTURE.search(data, i)
            if mark is None:
                break
            i = mark.end()
            byte = mark.group()
            if byte == b'"':
                self.in_string = True
            elif byte in (b"[", b"{"):
                if self.depth == self.base and self.element is None:
                    self.element, self.overflow, start = bytearray(), False, mark.start()
                self.depth += 1
            else:
                self.depth = max(0, self.depth - 1)
                if self.depth == self.base and self.element is not None:
                    self._collect(data[start:i])
                    self._close_element()
                    start = None
        if self.element is not None and start is not None:
            self._collect(data[start:])

    def finish(self) -> None:
        if self.raw:
            self.on_raw(bytes(self.raw))
        elif self.element:  # the stream ended inside an element
            self.on_raw(bytes(self.element))
        self.raw = self.element = None

    def _keep_raw(self, piece: bytes) -> None:
        room = max(0, self.limit - len(self.raw))
        self.raw += piece[:room]
        self.dropped_bytes += max(0, len(piece) - room)

    def _collect(self, piece: bytes) -> None:
        room = max(0, self.limit - len(self.element))
        if len(piece) > room:
            self.dropped_bytes += len(piece) - room
            self.overflow = True
            piece = piece[:room]
        self.element += piece

    def _close_element(self) -> None:
        element, overflow = self.element, self.overflow
        self.element, self.overflow = None, False
        if not overflow:
            try:
                value = json.loads(bytes(element))
            except (ValueError, RecursionError):
                pass
            else:
                self.on_value(value)
                return
        self.on_raw(bytes(element))
