"""LLM stream reassembly: the text the agent will read, rebuilt from bytes as they pass.

An injected command reaches the agent inside a streamed answer or tool call, split across
dozens of events and TCP reads, each piece JSON-escaped. The raw stream holds only
fragments (`"cu"`, `"rl http:/"`); the reassembled text holds the command. This module
turns byte chunks, split anywhere (mid-line, mid-UTF-8 sequence), into the texts of each
content block and tool call, so the engine scans each text once, as one inbound Exchange.

Formats are recognised by content type and by the shape of each event, never by host:
gateways and OpenAI-compatible servers speak these dialects on any host.

  SSE (text/event-stream), each `data:` payload parsed as JSON:
    OpenAI chat completions  choices[].delta.content, delta.tool_calls[].function.arguments
    OpenAI Responses API     response.output_text.delta, response.function_call_arguments.delta
    Anthropic Messages       content_block_delta: text_delta, input_json_delta.partial_json
    Gemini (alt=sse)         candidates[].content.parts[].text, functionCall.args, and
                             functionCall.partialArgs pieces while willContinue (Vertex AI)
    anything else            the string values of each JSON event, or the raw data text
  JSON streams (application/json, ndjson): Gemini streamGenerateContent's JSON array, or a
  sequence of JSON values, each element handled as above; Ollama's native NDJSON
  (message.content / response, message.tool_calls, done) is one more dialect.

Located texts: response.stream:text (answer text), response.stream:tool_call (tool-call
arguments), response.stream:tool_result (results of server-side tools carried in the
stream), response.stream:data (events of no known shape). A tool-call text also carries the tool's
name and call id when the dialect gives them (StreamText.tool, .call_id).

Memory per stream is bounded by max_scan_bytes: a pending SSE line or JSON element is cut
there, and the text held for open blocks never exceeds it in total. What does not fit is
counted (dropped_chars, dropped_bytes), not kept. A block is released as soon as it
closes (content_block_stop, finish_reason, ...), so a long stream keeps scanning. What
cannot be parsed (an event or element cut at the bound, a "JSON" body that is not JSON)
is not lost: its first max_scan_bytes are scanned as raw text at response.stream:data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from traffic_guardian.detect.exchange import INBOUND, UNKNOWN_SIZE, Exchange
from traffic_guardian.detect.stream_framing import JSONSequence, SSEParser

TEXT = "response.stream:text"
TOOL_CALL = "response.stream:tool_call"
TOOL_RESULT = "response.stream:tool_result"
DATA = "response.stream:data"

SSE_TYPES = ("text/event-stream",)
JSON_STREAM_TYPES = ("application/json", "application/x-ndjson", "application/ndjson", "application/jsonl",
                     "application/x-jsonlines", "application/json-seq", "application/stream+json",
                     "application/x-json-stream")

_ANTHROPIC_EVENTS = frozenset({"message_start", "message_delta", "message_stop", "content_block_start",
                               "content_block_delta", "content_block_stop", "ping", "error"})
# A Gemini chunk with no candidates still carries one of these (the final usage chunk).
_GEMINI_KEYS = frozenset({"usageMetadata", "modelVersion", "promptFeedback"})
# Anthropic blocks the agent acts on; thinking is the model's own reasoning and is not scanned.
_ANTHROPIC_CALL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
_ANTHROPIC_SILENT_BLOCKS = frozenset({"thinking", "redacted_thinking"})
_RESPONSES_CALL_DELTAS = frozenset({"response.function_call_arguments.delta",
                                    "response.custom_tool_call_input.delta",
                                    "response.mcp_call_arguments.delta"})
_RESPONSES_CALL_DONES = {"response.function_call_arguments.done": "arguments",
                         "response.custom_tool_call_input.done": "input",
                         "response.mcp_call_arguments.done": "arguments"}
# Responses API output items that are calls: their name and call_id arrive with output_item.added
_RESPONSES_CALL_ITEMS = frozenset({"function_call", "custom_tool_call", "mcp_call"})
MAX_TOOL_NAME = 128  # a tool name or call id longer than this is cut: both come from the model's answer

MAX_STRING_VALUES = 4096  # per unknown event: bounds the walk as well as the bytes


def stream_kind(content_type: str) -> str | None:
    """'sse', 'json', or None when the content type is not a stream this module reads."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in SSE_TYPES:
        return "sse"
    if media in JSON_STREAM_TYPES or media.endswith("+json"):
        return "json"
    return None


@dataclass(frozen=True)
class StreamText:
    """One reassembled text: where the agent reads it, the dialect it came in, and whether it was cut."""

    location: str
    text: str
    format: str
    truncated: bool = False
    tool: str | None = None  # a tool call's tool name (exec, web_fetch, an MCP tool ...), when the stream says
    call_id: str | None = None  # its id (OpenAI call_..., Anthropic toolu_..., Gemini id), when it has one


@dataclass
class _Segment:
    location: str
    format: str
    pieces: list[str] = field(default_factory=list)
    length: int = 0
    truncated: bool = False
    tool: str | None = None
    call_id: str | None = None


class StreamReassembler:
    """Reassembles one response stream. feed() each chunk as it passes and scan what it
    returns (blocks that just closed); finish() at the end returns the rest. Every text is
    returned exactly once.
    """

    def __init__(self, content_type: str, max_scan_bytes: int = 262144):
        kind = stream_kind(content_type)
        if kind is None:
            raise ValueError(f"not an LLM stream content type: {content_type!r}")
        self.kind = kind
        self.limit = max_scan_bytes
        self.formats: list[str] = []  # dialects seen, in order (openai_chat, anthropic, ...)
        self.bytes_seen = 0
        self.events = 0
        self.dropped_chars = 0  # text beyond the budget, counted not kept
        self._open: dict[tuple, _Segment] = {}
        self._delta_seen: set[tuple] = set()
        self._partial_paths: dict[tuple, str] = {}  # an open Gemini call's current jsonPath
        self._ready: list[StreamText] = []
        self._held = 0
        self._anonymous = 0
        self._finished = False
        if kind == "sse":
            self._parser = SSEParser(max_scan_bytes, self._on_sse_event)
        else:
            self._parser = JSONSequence(max_scan_bytes, self._on_value, self._on_raw)

    @property
    def dropped_bytes(self) -> int:
        return self._parser.dropped_bytes

    def feed(self, chunk: bytes) -> list[StreamText]:
        if self._finished or not chunk:
            return []
        self.bytes_seen += len(chunk)
        self._parser.feed(bytes(chunk))
        return self._take_ready()

    def finish(self) -> list[StreamText]:
        if self._finished:
            return []
        self._finished = True
        self._parser.finish()
        for key in list(self._open):
            self._close(key)
        return self._take_ready()

    # -- events ------------------------------------------------------------------------

    def _on_raw(self, data: bytes) -> None:
        """Unparseable JSON-stream data; a piece of the bound's size is the head of something cut."""
        self.events += 1
        self._whole(DATA, self.kind, data.decode("utf-8", "replace"), truncated=len(data) >= self.limit)

    def _on_sse_event(self, event: str, data: str, truncated: bool = False) -> None:
        if truncated:  # cut at the bound: not parseable, scanned as the text it is, and said to be cut
            self.events += 1
            self._whole(DATA, "sse", data, truncated=True)
            return
        stripped = data.strip()
        if stripped == "[DONE]":
            return
        if stripped[:1] in ("{", "["):
            try:
                value = json.loads(stripped)
            except (ValueError, RecursionError):
                value = None
            if value is not None:
                if isinstance(value, dict) and "type" not in value and event not in ("", "message"):
                    value = {**value, "type": event}
                self._on_value(value)
                return
        self.events += 1
        self._append(("data",), DATA, "sse", data + "\n")

    def _on_value(self, value: object) -> None:
        self.events += 1
        if isinstance(value, dict):
            kind = value.get("type")
            if isinstance(kind, str) and kind.startswith("response."):
                return self._openai_responses(kind, value)
            if kind in _ANTHROPIC_EVENTS:
                return self._anthropic(kind, value)
            if isinstance(value.get("choices"), list):
                return self._openai_chat(value)
            if isinstance(value.get("candidates"), list) or not _GEMINI_KEYS.isdisjoint(value):
                return self._gemini(value)
            if "done" in value and (isinstance(value.get("message"), dict) or isinstance(value.get("response"), str)):
                return self._ollama(value)
        strings: list[str] = []
        _string_values(value, strings, self.limit)
        if strings:
            self._append(("data",), DATA, self.kind, "\n".join(strings) + "\n")

    def _openai_chat(self, chunk: dict) -> None:
        fmt = self._saw("openai_chat")
        for position, choice in enumerate(chunk["choices"]):
            if not isinstance(choice, dict):
                continue
            index = _index(choice.get("index"), position)
            # delta: a streamed chunk; message: the same shape unstreamed; text: legacy completions
            for body in (choice.get("delta"), choice.get("message")):
                if not isinstance(body, dict):
                    continue
                self._append(("chat", index, "text"), TEXT, fmt, _text_of(body.get("content")))
                calls = body.get("tool_calls")
                for call_position, call in enumerate(calls if isinstance(calls, list) else ()):
                    function = call.get("function") if isinstance(call, dict) else None
                    if isinstance(function, dict):
                        key = ("chat", index, "tool", _index(call.get("index"), call_position))
                        self._label(key, TOOL_CALL, fmt, function.get("name"), call.get("id"))
                        self._append(key, TOOL_CALL, fmt, function.get("arguments"))
                legacy = body.get("function_call")
                if isinstance(legacy, dict):
                    self._label(("chat", index, "function"), TOOL_CALL, fmt, legacy.get("name"))
                    self._append(("chat", index, "function"), TOOL_CALL, fmt, legacy.get("arguments"))
            self._append(("chat", index, "text"), TEXT, fmt, _text_of(choice.get("text")))
            if choice.get("finish_reason"):
                self._close_prefix(("chat", index))

    def _openai_responses(self, kind: str, event: dict) -> None:
        fmt = self._saw("openai_responses")
        output = _index(event.get("output_index"), 0)
        text_key = ("responses", output, _index(event.get("content_index"), 0))
        call_key = ("responses", output, "call")
        if kind == "response.output_text.delta":
            self._append(text_key, TEXT, fmt, event.get("delta"), delta=True)
        elif kind == "response.output_text.done":
            self._done(text_key, TEXT, fmt, event.get("text"))
        elif kind in _RESPONSES_CALL_DELTAS:
            self._append(call_key, TOOL_CALL, fmt, event.get("delta"), delta=True)
        elif kind in _RESPONSES_CALL_DONES:
            self._done(call_key, TOOL_CALL, fmt, event.get(_RESPONSES_CALL_DONES[kind]))
        elif kind == "response.output_item.added":
            item = event.get("item")
            if isinstance(item, dict) and item.get("type") in _RESPONSES_CALL_ITEMS:
                self._label(call_key, TOOL_CALL, fmt, item.get("name"), item.get("call_id") or item.get("id"))
        elif kind == "response.output_item.done":
            # Message and call items repeat what their deltas carried; only a remote MCP
            # call's output (a tool result the agent will read) is new here.
            item = event.get("item")
            if isinstance(item, dict) and item.get("type") == "mcp_call":
                self._whole(TOOL_RESULT, fmt, item.get("output"))

    def _anthropic(self, kind: str, event: dict) -> None:
        fmt = self._saw("anthropic")
        key = ("anthropic", _index(event.get("index"), 0))
        if kind == "content_block_start":
            block = event.get("content_block")
            block_type = block.get("type") if isinstance(block, dict) else None
            if block_type == "text":
                self._append(key, TEXT, fmt, block.get("text"))
            elif block_type in _ANTHROPIC_CALL_BLOCKS:
                self._label(key, TOOL_CALL, fmt, block.get("name"), block.get("id"))
                if block.get("input"):
                    self._append(key, TOOL_CALL, fmt, json.dumps(block["input"], ensure_ascii=False))
            elif isinstance(block, dict) and block_type not in _ANTHROPIC_SILENT_BLOCKS:
                # web_search_tool_result, mcp_tool_result, ...: a tool result, delivered whole
                strings: list[str] = []
                _string_values(block, strings, self.limit)
                self._append(key, TOOL_RESULT, fmt, "\n".join(strings))
        elif kind == "content_block_delta":
            delta = event.get("delta")
            delta_type = delta.get("type") if isinstance(delta, dict) else None
            if delta_type == "text_delta":
                self._append(key, TEXT, fmt, delta.get("text"))
            elif delta_type == "input_json_delta":
                self._append(key, TOOL_CALL, fmt, delta.get("partial_json"))
        elif kind == "content_block_stop":
            self._close(key)

    def _gemini(self, chunk: dict) -> None:
        fmt = self._saw("gemini")
        candidates = chunk.get("candidates")
        for position, candidate in enumerate(candidates if isinstance(candidates, list) else ()):
            if not isinstance(candidate, dict):
                continue
            key = ("gemini", _index(candidate.get("index"), position))
            content = candidate.get("content")
            parts = content.get("parts") if isinstance(content, dict) else None
            for part in parts if isinstance(parts, list) else ():
                if not isinstance(part, dict) or part.get("thought") is True:
                    continue
                self._append(key, TEXT, fmt, part.get("text"))
                call = part.get("functionCall")
                if isinstance(call, dict):
                    self._gemini_call(key, fmt, call)
                code = part.get("executableCode")
                if isinstance(code, dict):
                    self._whole(TOOL_CALL, fmt, code.get("code"), tool="code_execution")
                result = part.get("codeExecutionResult")
                if isinstance(result, dict):
                    self._whole(TOOL_RESULT, fmt, result.get("output"))
            if candidate.get("finishReason"):
                self._close_prefix(key)

    def _gemini_call(self, key: tuple, fmt: str, call: dict) -> None:
        """A call sent whole (args as an object), or, with Vertex AI's streamFunctionCallArguments,
        in pieces: partialArgs [{jsonPath, stringValue, willContinue}] across chunks, the call
        open while willContinue is true. Pieces of one path join; each path starts a line."""
        partial = call.get("partialArgs")
        call_key = (*key, "call")
        if not isinstance(partial, list) and not call.get("willContinue") and call_key not in self._open:
            self._whole(TOOL_CALL, fmt, json.dumps(call.get("args", {}), ensure_ascii=False), tool=call.get("name"),
                        call_id=call.get("id"))
            return
        self._label(call_key, TOOL_CALL, fmt, call.get("name"), call.get("id"))
        for arg in partial if isinstance(partial, list) else ():
            if not isinstance(arg, dict):
                continue
            path = arg.get("jsonPath") if isinstance(arg.get("jsonPath"), str) else "$"
            value = next((arg[name] for name in ("stringValue", "numberValue", "boolValue") if name in arg), None)
            if self._partial_paths.get(call_key) != path:
                self._partial_paths[call_key] = path
                self._append(call_key, TOOL_CALL, fmt, f"\n{path}: ")
            self._append(call_key, TOOL_CALL, fmt, value if isinstance(value, str) else json.dumps(value))
        if call.get("args"):
            self._append(call_key, TOOL_CALL, fmt, "\n" + json.dumps(call["args"], ensure_ascii=False))
        if not call.get("willContinue"):
            self._partial_paths.pop(call_key, None)
            self._close(call_key)

    def _ollama(self, chunk: dict) -> None:
        """Ollama's native NDJSON (/api/chat: message.content and message.tool_calls;
        /api/generate: response), one object per line, the last with done: true."""
        fmt = self._saw("ollama")
        key = ("ollama", 0)
        message = chunk.get("message")
        if isinstance(message, dict):
            self._append(key, TEXT, fmt, _text_of(message.get("content")))
            calls = message.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):  # each call whole, arguments as an object
                    arguments = function.get("arguments")
                    self._whole(TOOL_CALL, fmt, arguments if isinstance(arguments, str)
                                else json.dumps(arguments or {}, ensure_ascii=False), tool=function.get("name"))
        self._append(key, TEXT, fmt, chunk.get("response"))
        if chunk.get("done") is True:
            self._close(key)

    # -- segments ----------------------------------------------------------------------

    def _saw(self, fmt: str) -> str:
        if fmt not in self.formats:
            self.formats.append(fmt)
        return fmt

    def _open_segment(self, key: tuple, location: str, fmt: str) -> _Segment:
        segment = self._open.get(key)
        if segment is None:
            segment = self._open[key] = _Segment(location, fmt)
        return segment

    def _label(self, key: tuple, location: str, fmt: str, tool, call_id=None) -> None:
        """Name the (possibly still empty) call segment: the first name and id a stream gives stick."""
        segment = self._open_segment(key, location, fmt)
        if isinstance(tool, str) and tool and segment.tool is None:
            segment.tool = tool[:MAX_TOOL_NAME]
        if isinstance(call_id, str) and call_id and segment.call_id is None:
            segment.call_id = call_id[:MAX_TOOL_NAME]

    def _append(self, key: tuple, location: str, fmt: str, text, delta: bool = False) -> None:
        if not isinstance(text, str) or not text:
            return
        if delta:
            self._delta_seen.add(key)
        segment = self._open_segment(key, location, fmt)
        room = max(0, self.limit - self._held)
        kept = text[:room]
        if len(kept) < len(text):
            self.dropped_chars += len(text) - len(kept)
            segment.truncated = True
        if kept:
            segment.pieces.append(kept)
            segment.length += len(kept)
            self._held += len(kept)

    def _done(self, key: tuple, location: str, fmt: str, whole_text) -> None:
        """A 'done' event repeats the deltas; its text counts only when no delta came."""
        if key not in self._delta_seen:
            self._append(key, location, fmt, whole_text)
        self._delta_seen.discard(key)
        self._close(key)

    def _whole(self, location: str, fmt: str, text, truncated: bool = False, tool=None, call_id=None) -> None:
        self._anonymous += 1
        key = ("whole", self._anonymous)
        if tool is not None or call_id is not None:
            self._label(key, location, fmt, tool, call_id)
        self._append(key, location, fmt, text)
        if truncated and key in self._open:
            self._open[key].truncated = True
        self._close(key)

    def _close(self, key: tuple) -> None:
        segment = self._open.pop(key, None)
        if segment is None:
            return
        self._held -= segment.length
        if segment.length:
            self._ready.append(StreamText(segment.location, "".join(segment.pieces), segment.format,
                                          segment.truncated, segment.tool, segment.call_id))

    def _close_prefix(self, prefix: tuple) -> None:
        for key in [k for k in self._open if k[: len(prefix)] == prefix]:
            self._close(key)

    def _take_ready(self) -> list[StreamText]:
        ready, self._ready = self._ready, []
        return ready


def reassembler_for(content_type: str, max_scan_bytes: int = 262144) -> StreamReassembler | None:
    """A reassembler when the content type is an event stream or a JSON stream, else None."""
    if stream_kind(content_type) is None:
        return None
    return StreamReassembler(content_type, max_scan_bytes)


def reassemble(chunks: Iterable[bytes], content_type: str, max_scan_bytes: int = 262144) -> list[StreamText]:
    """Every text of a whole recorded stream (offline use and tests)."""
    reassembler = StreamReassembler(content_type, max_scan_bytes)
    texts: list[StreamText] = []
    for chunk in chunks:
        texts.extend(reassembler.feed(chunk))
    texts.extend(reassembler.finish())
    return texts


def stream_exchanges(texts: Iterable[StreamText], template: Exchange) -> list[Exchange]:
    """One inbound Exchange per reassembled text, located where the agent reads it.

    Headers are left out: the response's headers are scanned once with the response itself.
    """
    return [
        replace(template, direction=INBOUND, headers=[], body=text.text, body_location=text.location,
                content_type="", body_total=UNKNOWN_SIZE if text.truncated else None)
        for text in texts
    ]


def _index(value, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _text_of(content) -> str | None:
    """Message content as text: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part.get("text") for part in content if isinstance(part, dict)]
        return "".join(text for text in texts if isinstance(text, str)) or None
    return None


def _string_values(node, out: list[str], budget: int) -> None:
    """String values of a JSON value, and of JSON inside those strings one level down."""
    used = 0
    stack = [(node, 1)]
    while stack and used < budget and len(out) < MAX_STRING_VALUES:
        item, depth = stack.pop()
        if isinstance(item, str):
            out.append(item)
            used += len(item) + 1
            if depth < 2 and item.lstrip()[:1] in ("{", "[") and "\\" in item:
                try:
                    stack.append((json.loads(item), depth + 1))
                except (ValueError, RecursionError):
                    pass
        elif isinstance(item, dict):
            stack.extend((value, depth) for value in reversed(item.values()))
        elif isinstance(item, list):
            stack.extend((value, depth) for value in reversed(item))
