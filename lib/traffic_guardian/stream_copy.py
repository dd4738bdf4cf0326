"""Streamed bodies: pass every chunk through unchanged, keep a bounded copy, scan at the end.

An LLM answer streamed as text/event-stream must reach the client token by token, so the
monitor cannot buffer it. mitmproxy calls `flow.response.stream` (or `flow.request.stream`)
with each chunk and with b"" at the end of the message; a StreamCopy is that callable. It
returns each chunk as is, keeps at most `limit` bytes, and on the end calls `on_finish`.

The seam for protocol-aware inspection: the addon turns a finished copy into one Exchange
and hands it to `exchanges_from_stream`, which today returns it unchanged. Reassembling an
LLM stream (SSE events per provider -> the text the model produced, tool-call arguments)
belongs there: it receives the whole bounded copy, decoded, with its content type, and may
return several Exchanges (for example one per reassembled message) for the engine to scan.
"""

from __future__ import annotations

from collections.abc import Callable

from .exchange import Exchange


class StreamCopy:
    """Callable for mitmproxy's stream attribute: chunk -> the same chunk, plus a bounded copy."""

    def __init__(self, limit: int, on_finish: Callable[[StreamCopy], None],
                 on_error: Callable[[str, BaseException], None] | None = None):
        self.limit = limit
        self.on_finish = on_finish
        self.on_error = on_error
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
        room = self.limit - len(self.buffer)
        if room > 0:
            self.buffer += chunk[:room]

    def finish(self) -> None:
        """Idempotent: called at end of message, or by the addon when the flow errors mid-stream."""
        if self.finished:
            return
        self.finished = True
        self.on_finish(self)


def exchanges_from_stream(exchange: Exchange) -> list[Exchange]:
    """The Exchanges to scan for one finished stream (its bounded, decoded body in exchange.body).

    Extension point for LLM stream reassembly (SSE per provider). Default: scan the copy as is.
    """
    return [exchange]
