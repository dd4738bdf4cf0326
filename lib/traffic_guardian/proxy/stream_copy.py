"""Streamed bodies: pass every chunk through unchanged, keep a bounded copy, scan at the end.

An LLM answer streamed as text/event-stream must reach the client token by token, so the
monitor cannot buffer it. mitmproxy calls `flow.response.stream` (or `flow.request.stream`)
with each chunk and with b"" at the end of the message; a StreamCopy is that callable. It
returns each chunk as is, keeps at most `limit` bytes, and on the end calls `on_finish`.

Protocol-aware inspection (llm_streams.py): an inbound LLM stream readable as it comes
(not compressed) is given a StreamReassembler; it reads each chunk instead of the raw
copy, and each reassembled text (a content block, a tool call) goes to `on_texts` as soon
as it closes, the rest at the end. A stream compressed on the wire can only be decoded at
the end: the addon hands its decoded copy to `exchanges_from_stream`, which reassembles it
there. Either way each text is scanned once, and the headers once, on their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from traffic_guardian.detect.exchange import INBOUND, Exchange
from traffic_guardian.detect.llm_streams import StreamReassembler, StreamText, reassemble, stream_exchanges, stream_kind


class StreamCopy:
    """Callable for mitmproxy's stream attribute: chunk -> the same chunk, plus a bounded copy."""

    def __init__(self, limit: int, on_finish: Callable[[StreamCopy], None],
                 on_error: Callable[[str, BaseException], None] | None = None,
                 reassembler: StreamReassembler | None = None,
                 on_texts: Callable[[list[StreamText]], None] | None = None):
        self.limit = limit
        self.on_finish = on_finish
        self.on_error = on_error
        self.reassembler = reassembler  # when set, no raw copy is kept: the reassembler bounds itself
        self.on_texts = on_texts
        self.buffer = bytearray()
        self.total = 0  # bytes that passed, kept or not
        self.chunks = 0
        self.finished = False

    @property
    def truncated(self) -> bool:
        return self.total > len(self.buffer)

    @property
    def data(self) -> bytes:
        return bytes(self.buffer)

    def __call__(self, chunk: bytes) -> bytes:
        # Whatever happens in here, the chunk goes on unchanged: an error must never break
        # the exchange, so it is reported through on_error and swallowed.
        try:
            if chunk:
                self.feed(chunk)
            else:
                self.finish()
        except Exception as exc:
            if self.on_error is not None:
                try:
                    self.on_error("stream", exc)
                except Exception:  # noqa: S110 - reporting must not break the stream either
                    pass
        return chunk

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.chunks += 1
        if self.reassembler is not None:
            self._texts(self.reassembler.feed(chunk))
            return
        room = self.limit - len(self.buffer)
        if room > 0:
            self.buffer += chunk[:room]

    def finish(self) -> None:
        """Idempotent: called at end of message, or by the addon when the flow errors mid-stream."""
        if self.finished:
            return
        self.finished = True
        try:
            if self.reassembler is not None:
                self._texts(self.reassembler.finish())
        finally:
            self.on_finish(self)

    def _texts(self, texts: list[StreamText]) -> None:
        if texts and self.on_texts is not None:
            self.on_texts(texts)


def exchanges_from_stream(exchange: Exchange) -> list[Exchange]:
    """The Exchanges to scan for one finished stream (its bounded, decoded body in exchange.body).

    An inbound LLM stream (event stream or JSON stream) is reassembled: the headers stay on
    the exchange itself, each text becomes its own located Exchange. Anything else as is.
    A copy cut at the bound (body_total set) marks its last text as cut, so the cut is
    reported (scan_incomplete at that text's location), never lost with the raw body.
    """
    body = exchange.body
    if exchange.direction != INBOUND or not body or stream_kind(exchange.content_type) is None:
        return [exchange]
    data = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    texts = reassemble([data], exchange.content_type, max_scan_bytes=len(data) + 1)
    if exchange.body_total is not None:  # the copy was cut at its bound: so is the last text
        if not texts:
            return [exchange]  # nothing reassembled: the raw copy, with its cut, as it is
        texts[-1] = replace(texts[-1], truncated=True)
    return [replace(exchange, body=b"", body_total=None), *stream_exchanges(texts, exchange)]
