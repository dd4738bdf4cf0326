"""The mitmdump addon: a thin adapter from mitmproxy flows to the detection engine.

Loaded by mitmdump (`-s addon.py`, started by scripts/start.py through monitor.py). What
the hooks see becomes an Exchange (exchange.py), handed to the scanner process
(scan_process.py), whose Engine answers with findings that the FindingWriter writes here
(without the scanner process: the Engine in this process). The body hooks only note the
message: its Exchange is built and handed off a millisecond later, together with the others
noted meanwhile (deferred_scans.py), which costs the proxy less than doing it cold in each
hook. The addon only observes: it never changes, delays or blocks a message (only a
scanner far behind makes the proxy wait for its answers). Any exception in a hook or a scan
is logged redacted and swallowed, so a bug here cannot break the exchange.

One small class per concern, sharing a GuardianRuntime; mitmproxy sees one GuardianAddon
that routes each hook to the class that owns it:
  GuardianRuntime  options, engine, scanner process, writer, counters, log redaction, counters file
                   (runtime.py)
  HttpInspector    requests (outbound) and responses (inbound), bounded and decoded;
                   large or streamed bodies pass through a StreamCopy (stream_copy.py)
  WebSocketInspector  each message, direction by sender
  TlsPassthrough   HTTPS off: tunnels pass uninspected; destination and SNI recorded as egress
"""

from __future__ import annotations

import functools
import logging
import sys
from dataclasses import replace
from pathlib import Path

# mitmdump loads this file as a script, not as a package module: make `traffic_guardian` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mitmproxy import http  # noqa: E402
from mitmproxy.proxy.server_hooks import ServerConnectionHookData  # noqa: E402
from mitmproxy.tls import ClientHelloData, TlsData  # noqa: E402

from traffic_guardian.detect.content_encoding import decode_body  # noqa: E402
from traffic_guardian.detect.exchange import INBOUND, OUTBOUND, UNKNOWN_SIZE, Exchange  # noqa: E402
from traffic_guardian.detect.llm_streams import reassembler_for, stream_exchanges  # noqa: E402
from traffic_guardian.proxy.message_head import MessageHead, read_head  # noqa: E402
from traffic_guardian.proxy.runtime import GuardianRuntime  # noqa: E402
from traffic_guardian.proxy.stream_copy import StreamCopy, exchanges_from_stream  # noqa: E402

log = logging.getLogger("traffic_guardian")

# Content types that are streams by nature: pass them chunk by chunk, never buffered.
STREAM_CONTENT_TYPES = ("text/event-stream", "application/x-ndjson", "application/stream+json",
                        "application/jsonl")


def guarded(method):
    """Run a hook; on any exception report it redacted and let the flow continue untouched."""

    @functools.wraps(method)
    def wrapper(self, *args):
        try:
            return method(self, *args)
        except Exception as exc:
            self.runtime.report_error(method.__name__, exc)
            return None

    return wrapper


def _dest(flow) -> str:
    """The upstream as host:port, the form every Exchange, egress entry and finding uses."""
    return f"{flow.request.host}:{flow.request.port}"


def _peer(flow) -> str:
    return _peer_of(flow.client_conn)


def _peer_of(client) -> str:
    address = getattr(client, "peername", None)
    return f"{address[0]}:{address[1]}" if address else "unknown"


def _head(flow: http.HTTPFlow, message: http.Message) -> MessageHead:
    """The message's header block, read once: the headers hook reads it and the body hook
    reuses it, unless the headers changed in between (mitmproxy replaces the immutable
    fields tuple on every change, so the same tuple means the same headers)."""
    key = "traffic_guardian.request_head" if message is flow.request else "traffic_guardian.response_head"
    fields = message.headers.fields
    cached = flow.metadata.get(key)
    if cached is not None and cached[0] is fields:
        return cached[1]
    head = read_head(fields)
    flow.metadata[key] = (fields, head)
    return head


def _wire_size(message: http.Message, head: MessageHead) -> int:
    """Header bytes plus the body (its Content-Length when streamed): the egress inventory's byte count."""
    if message.raw_content is not None:
        return head.size + len(message.raw_content)
    try:
        return head.size + int(head.content_length or "0")
    except ValueError:
        return head.size


def _wants_stream(head: MessageHead, limit: int) -> bool:
    """Stream (pass chunks as they come) when the body is a stream, unbounded or beyond the scan bound."""
    if head.content_type.lower().startswith(STREAM_CONTENT_TYPES):
        return True
    if head.content_length is None:
        return "chunked" in head.transfer_encoding.lower()
    try:
        return int(head.content_length) > limit
    except ValueError:
        return False


class HttpInspector:
    """HTTP(S) requests as outbound exchanges, responses as inbound ones."""

    def __init__(self, runtime: GuardianRuntime):
        self.runtime = runtime

    def exchange(self, flow: http.HTTPFlow, direction: str, body: bytes, head: MessageHead | None = None,
                 decode_here: bool = True) -> Exchange:
        """The engine's view of one message. decode_here=False leaves a compressed body as it
        came, with its Content-Encoding, for the engine to undo in the scanner process:
        inflating 64 KiB costs about 0.1 ms (gzip) to 1 ms (br) of the proxy's one event loop."""
        message = flow.request if direction == OUTBOUND else flow.response
        assert message is not None
        if head is None:
            head = _head(flow, message)
        limit = self.runtime.max_scan_bytes
        encoding = "" if head.content_encoding.strip().lower() in ("", "identity") else head.content_encoding
        total = len(body) if len(body) > limit else None
        if decode_here and encoding:
            decoded = decode_body(body[:limit], encoding, limit)
            total = UNKNOWN_SIZE if total is not None or len(decoded) >= limit else None
            body, encoding = decoded, ""
        return Exchange(
            direction=direction,
            dest=_dest(flow),
            source=_peer(flow),
            protocol="https" if flow.request.scheme == "https" else "http",
            method=flow.request.method,
            url=flow.request.url if direction == OUTBOUND else "",
            headers=head.headers,
            body=body[:limit],
            content_type=head.content_type,
            flow_id=flow.id,
            content_encoding=encoding,
            body_total=total,
        )

    @guarded
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # Answered already (407 from proxyauth): mitmproxy refuses a stream beside a response,
        # and the client would never get its 407.
        if flow.response is None and _wants_stream(_head(flow, flow.request), self.runtime.max_scan_bytes):
            flow.request.stream = self._stream_copy(flow, OUTBOUND)

    @guarded
    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:
            return  # answered by the proxy itself (407 without credentials): nothing left the host
        runtime = self.runtime
        if runtime.counters is not None:
            runtime.counters.bump("requests")
        protocol = "https" if flow.request.scheme == "https" else "http"
        head = _head(flow, flow.request)
        runtime.egress(_dest(flow), protocol, inspected=True, source=_peer(flow),
                       flow_id=flow.id, bytes_out=_wire_size(flow.request, head))
        if self._streamed(flow, "request_copy"):
            return
        runtime.deferred.add(self.exchange, flow, OUTBOUND, flow.request.raw_content or b"", head, False)

    @guarded
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None and _wants_stream(_head(flow, flow.response), self.runtime.max_scan_bytes):
            flow.response.stream = self._stream_copy(flow, INBOUND)

    @guarded
    def response(self, flow: http.HTTPFlow) -> None:
        if self.runtime.counters is not None:
            self.runtime.counters.bump("responses")
        if flow.response is None:
            return
        head = _head(flow, flow.response)
        self.runtime.egress_bytes(_dest(flow), bytes_in=_wire_size(flow.response, head))
        if self._streamed(flow, "response_copy"):
            return
        self.runtime.deferred.add(self.exchange, flow, INBOUND, flow.response.raw_content or b"", head, False)

    @guarded
    def error(self, flow: http.HTTPFlow) -> None:
        # A stream cut short (client gone, upstream reset) still gets its copy scanned.
        for key in ("request_copy", "response_copy"):
            copy = flow.metadata.get(f"traffic_guardian.{key}")
            if copy is not None:
                copy.finish()

    def _streamed(self, flow: http.HTTPFlow, key: str) -> bool:
        copy = flow.metadata.get(f"traffic_guardian.{key}")
        return copy is not None and copy.finished

    def _stream_copy(self, flow: http.HTTPFlow, direction: str) -> StreamCopy:
        def on_finish(copy: StreamCopy) -> None:
            exchange = self.exchange(flow, direction, copy.data)
            if copy.truncated and copy.reassembler is None:  # the copy stopped at its bound
                exchange = replace(exchange, body_total=copy.total if not exchange.content_encoding else UNKNOWN_SIZE)
            for part in exchanges_from_stream(exchange):
                self.runtime.scan(part)

        def on_texts(texts) -> None:  # reassembled LLM stream texts, as each block closes
            for part in stream_exchanges(texts, self.exchange(flow, direction, b"")):
                self.runtime.scan(part)

        # An inbound LLM stream is reassembled as it passes when its chunks are readable as
        # they come; a compressed one is decoded and reassembled at the end (exchanges_from_stream).
        limit, reassembler = self.runtime.max_scan_bytes, None
        message = flow.response if direction == INBOUND else None
        encoding = message.headers.get("content-encoding", "").strip().lower() if message is not None else "-"
        if encoding in ("", "identity"):
            reassembler = reassembler_for(message.headers.get("content-type", ""), limit)
        copy = StreamCopy(limit, on_finish, self.runtime.report_error, reassembler, on_texts)
        key = "request_copy" if direction == OUTBOUND else "response_copy"
        flow.metadata[f"traffic_guardian.{key}"] = copy
        return copy


class WebSocketInspector:
    """Each websocket message: from the client outbound, from the server inbound."""

    def __init__(self, runtime: GuardianRuntime):
        self.runtime = runtime

    @guarded
    def websocket_message(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None or not flow.websocket.messages:
            return
        message = flow.websocket.messages[-1]
        # mitmproxy keeps every message of a connection; a long-lived agent socket would grow
        # without bound. The relay holds its own reference, so keeping only the last is safe.
        del flow.websocket.messages[:-1]
        if self.runtime.counters is not None:
            self.runtime.counters.bump("websocket_messages")
        size, outbound = len(message.content), message.from_client
        self.runtime.egress_bytes(_dest(flow),
                                  bytes_out=size if outbound else 0, bytes_in=0 if outbound else size)
        limit = self.runtime.max_scan_bytes
        self.runtime.scan(Exchange(
            direction=OUTBOUND if message.from_client else INBOUND,
            dest=_dest(flow),
            source=_peer(flow),
            protocol="websocket",
            headers=[],
            body=message.content[:limit],
            flow_id=flow.id,
            body_location="websocket.message",
        ))


class TlsPassthrough:
    """Without HTTPS inspection every TLS connection is tunnelled untouched (no CA involved);
    its destination and SNI are still recorded as egress."""

    def __init__(self, runtime: GuardianRuntime):
        self.runtime = runtime

    @guarded
    def tls_clienthello(self, data: ClientHelloData) -> None:
        address = data.context.server.address
        dest = f"{address[0]}:{address[1]}" if address else "unknown"
        inspected = self.runtime.https_inspection
        if not inspected:
            data.ignore_connection = True
        self.runtime.egress(dest, "https" if inspected else "tls-passthrough", inspected,
                            data.client_hello.sni, source=_peer_of(data.context.client))


class UpstreamConnections:
    """The connections the proxy makes for the client: where they really go (an address that is
    private, loopback or cloud metadata: SSRF through our hop) and whether TLS with the
    upstream failed (with HTTPS inspection mitmproxy verifies it; the client sees only a 502)."""

    def __init__(self, runtime: GuardianRuntime):
        self.runtime = runtime

    @guarded
    def server_connect(self, data: ServerConnectionHookData) -> None:
        if data.server.address:
            host, port = data.server.address[0], data.server.address[1]
            self.runtime.check_destination(host, port, _peer_of(data.client))

    @guarded
    def server_connected(self, data: ServerConnectionHookData) -> None:
        if data.server.address and data.server.peername:
            host, port = data.server.address[0], data.server.address[1]
            self.runtime.check_connected(host, port, data.server.peername[0], _peer_of(data.client))

    @guarded
    def tls_failed_server(self, data: TlsData) -> None:
        address = data.context.server.address
        dest = f"{address[0]}:{address[1]}" if address else "unknown"
        reason = str(data.conn.error or "TLS handshake failed")
        self.runtime.upstream_tls_failed(dest, reason, _peer_of(data.context.client))


class GuardianAddon:
    """The one object mitmproxy sees: each hook is the bound method of the concern class that owns it.

    mitmproxy walks every addon on every event (about 16 per HTTP request: connection,
    headers, bodies, ...) to look up a handler, whether or not the addon has one. With the
    four concern objects registered, that walk took about 90k instructions of the proxy per
    64 KiB POST, 1% of what bare mitmdump spends on it (bench/instructions.py); one object
    routing to them keeps the classes apart and the walk short.
    """

    def __init__(self, runtime: GuardianRuntime):
        self.runtime = runtime
        http_inspector, websocket, tls = HttpInspector(runtime), WebSocketInspector(runtime), TlsPassthrough(runtime)
        self.load, self.configure = runtime.load, runtime.configure
        self.running, self.done = runtime.running, runtime.done
        self.requestheaders, self.request = http_inspector.requestheaders, http_inspector.request
        self.responseheaders, self.response = http_inspector.responseheaders, http_inspector.response
        self.error = http_inspector.error
        self.websocket_message = websocket.websocket_message
        self.tls_clienthello = tls.tls_clienthello
        upstream = UpstreamConnections(runtime)
        self.server_connect, self.server_connected = upstream.server_connect, upstream.server_connected
        self.tls_failed_server = upstream.tls_failed_server


runtime = GuardianRuntime()
addons = [GuardianAddon(runtime)]
