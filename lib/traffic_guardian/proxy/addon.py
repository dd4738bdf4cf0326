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
  HttpInspector    requests (outbound) and responses (inbound), bounded and decoded;
                   large or streamed bodies pass through a StreamCopy (stream_copy.py)
  WebSocketInspector  each message, direction by sender
  TlsPassthrough   HTTPS off: tunnels pass uninspected; destination and SNI recorded as egress
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path

# mitmdump loads this file as a script, not as a package module: make `traffic_guardian` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mitmproxy import ctx, http  # noqa: E402
from mitmproxy.tls import ClientHelloData  # noqa: E402

from traffic_guardian.detect.content_encoding import decode_body  # noqa: E402
from traffic_guardian.detect.engine import Engine  # noqa: E402
from traffic_guardian.detect.exchange import INBOUND, OUTBOUND, Exchange  # noqa: E402
from traffic_guardian.detect.known_secrets import write_summary  # noqa: E402
from traffic_guardian.detect.llm_streams import reassembler_for, stream_exchanges  # noqa: E402
from traffic_guardian.detect.redact import Redactor  # noqa: E402
from traffic_guardian.home.config import load_config  # noqa: E402
from traffic_guardian.home.counters import MonitorCounters  # noqa: E402
from traffic_guardian.home.egress import EgressInventory, EgressPolicy  # noqa: E402
from traffic_guardian.home.guardian_home import GuardianHome, HomeError  # noqa: E402
from traffic_guardian.home.run_files import RunFilesKeeper  # noqa: E402
from traffic_guardian.home.writer import FindingWriter  # noqa: E402
from traffic_guardian.proxy import heap  # noqa: E402
from traffic_guardian.proxy.deferred_scans import DeferredScans  # noqa: E402
from traffic_guardian.proxy.log_redaction import LogRedactor, install_record_factory  # noqa: E402
from traffic_guardian.proxy.message_head import MessageHead, read_head  # noqa: E402
from traffic_guardian.proxy.scan_process import ScanProcess  # noqa: E402
from traffic_guardian.proxy.stream_copy import StreamCopy, exchanges_from_stream  # noqa: E402

log = logging.getLogger("traffic_guardian")

COUNTERS_INTERVAL_SECS = 1.0
# Content types that are streams by nature: pass them chunk by chunk, never buffered.
STREAM_CONTENT_TYPES = ("text/event-stream", "application/x-ndjson", "application/stream+json",
                        "application/jsonl")


class GuardianRuntime:
    """Options and the shared engine/writer/counters; the other addons call into it."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.scan_process: ScanProcess | None = None  # set once running, when config scan_process is on
        self._config = None
        self.writer: FindingWriter | None = None
        self.counters: MonitorCounters | None = None
        self.home: GuardianHome | None = None
        self.max_scan_bytes = 262144
        self.https_inspection = False
        self.redact_log = LogRedactor()
        self.redact_text = self.redact_log  # until configure: URLs and credential fields only
        self._counters_task: asyncio.Task | None = None
        self.egress_inventory: EgressInventory | None = None
        self.egress_policy: EgressPolicy | None = None
        self.run_files: RunFilesKeeper | None = None
        self._trimmed_at = time.monotonic()
        # Bodies noted by the hooks, built and handed off together once running (deferred_scans.py).
        self.deferred = DeferredScans(self.scan, self.report_error)

    def load(self, loader) -> None:
        install_record_factory(self.redact_log, replace=False)  # before anything can log a URL
        loader.add_option("guardian_home", str, "", "Guardian home directory (state, logs, CA).")
        loader.add_option("guardian_config", str, "", "Guardian config file (empty: the usual lookup).")
        loader.add_option("guardian_https_inspection", bool, False,
                          "Inspect HTTPS (needs https_inspection in config and start.sh --https-inspection).")

    def configure(self, updated) -> None:
        if not {"guardian_home", "guardian_config", "guardian_https_inspection"} & set(updated):
            return
        if not ctx.options.guardian_home:
            return
        env = dict(os.environ)
        env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"] = ctx.options.guardian_home
        config = load_config(ctx.options.guardian_config or None, env)
        home = config.home
        redactor = Redactor(home.fingerprint_key(create=True))
        self.engine = Engine.from_config(config, redactor)
        # Log lines and egress findings are short: redacting them does not earn Hyperscan's
        # compile time and memory, which only an engine that scans here (no scanner process) pays.
        self.redact_text = self.engine.twin(use_hyperscan=False).redact_text
        self.redact_log = LogRedactor(self.redact_text)
        install_record_factory(self.redact_log)
        if self.scan_process is not None:
            self.scan_process.close()
            self.scan_process = None
        self.writer = FindingWriter.from_config(config)
        self.home = home
        self.counters = MonitorCounters(home)
        self.run_files = RunFilesKeeper(home, os.getpid())  # mitmdump runs in this process (monitor.py)
        self._config = config
        self.max_scan_bytes = config.max_scan_bytes
        self.https_inspection = bool(ctx.options.guardian_https_inspection and config.https_inspection)
        self._configure_picoclaw_awareness(config, home)

    def _configure_picoclaw_awareness(self, config, home: GuardianHome) -> None:
        """Known secrets (loaded now, reloaded on change, fingerprint summary in run/), egress inventory, allowlist."""
        known = self.engine.known_secrets
        if known is not None:
            known.on_reload = self._write_known_summary
            self._write_known_summary(known.current())
        self.egress_inventory = EgressInventory(home, config.egress_inventory_max)
        self.egress_policy = EgressPolicy(
            config.egress_allowlist,
            lambda: known.current().snapshot.egress_hosts if known is not None else (),
            config.dedup_window_secs, max_tracked=config.egress_inventory_max, redact=self.redact_text)

    def _write_known_summary(self, known) -> None:
        try:
            write_summary(self.home, known)
        except (OSError, HomeError) as exc:
            log.warning("traffic-guardian: cannot write the known-secrets summary: %s", self.redact_log(str(exc)))

    def running(self) -> None:
        # Only warnings and errors are shown (termlog_verbosity=warn), but mitmproxy sets the
        # root logger to DEBUG at startup and builds a record for every connection event: each
        # was redacted here (about 90 us a line on the proxy's loop, five lines per connection)
        # and passed to every addon as an add_log event, to be dropped. Records below WARNING
        # are no longer made.
        logging.getLogger().setLevel(logging.WARNING)
        if self.counters is not None and self._counters_task is None:
            self._counters_task = asyncio.get_running_loop().create_task(self._flush_counters_forever())
        self._start_scan_process(asyncio.get_running_loop())
        self.deferred.start(asyncio.get_running_loop())

    def _start_scan_process(self, loop) -> None:
        """The scanner process (scan_process.py), unless config scan_process is off or it cannot start."""
        if self._config is None or not self._config.scan_process or self.home is None or self.counters is None:
            return
        process = ScanProcess(self.home.root, ctx.options.guardian_config or None, on_answer=self._on_answer,
                              scan_inline=self.scan_here, on_problem=functools.partial(self.report_problem, "scanner"),
                              on_wait=functools.partial(self.counters.bump, "scan_waits"))
        try:
            process.start(loop)
        except OSError as exc:
            log.warning("traffic-guardian: cannot start the scanner process, scanning in the monitor: %s",
                        self.redact_log(str(exc)))
            return
        self.scan_process = process

    def done(self) -> None:
        if self._counters_task is not None:
            self._counters_task.cancel()
        self.deferred.drain()
        if self.scan_process is not None:
            self.scan_process.close()  # every answer still due is written before the log closes
        self.flush_counters(force=True)
        if self.writer is not None:
            self.writer.close()

    async def _flush_counters_forever(self) -> None:
        while True:
            await asyncio.sleep(COUNTERS_INTERVAL_SECS)
            self.flush_counters()

    def flush_counters(self, force: bool = False) -> None:
        if self.counters is None:
            return
        try:
            if self.scan_process is not None:
                self.scan_process.check()
            self.counters.set_expected_uses(self._expected_uses())
            self.counters.flush(force)
            if self.egress_inventory is not None:
                self.egress_inventory.maybe_save(force)
            if self.run_files is not None and self.run_files.check():
                log.warning("traffic-guardian: run files were gone (home removed?); restored them")
            if time.monotonic() - self._trimmed_at >= heap.TRIM_INTERVAL_SECS:
                self._trimmed_at = time.monotonic()
                heap.trim()  # the bodies of the last burst, freed but still held by the C library
        except (OSError, HomeError) as exc:  # a HomeError here (a planted symlink) must not end the task
            log.warning("traffic-guardian: cannot write counters: %s", self.redact_log(str(exc)))

    # -- the one path every exchange takes ---------------------------------------------------

    def scan(self, exchange: Exchange) -> None:
        """Hand an exchange to the scanner process; without one, scan it here."""
        if self.scan_process is not None:
            self.scan_process.submit(exchange)
        else:
            self.scan_here(exchange)

    def scan_here(self, exchange: Exchange) -> None:
        """Scan with this process's engine and write the findings. Never raises."""
        if self.engine is None:
            return
        try:
            findings = self.engine.scan(exchange)
        except Exception as exc:
            self.report_error("scan", exc)
            return
        for finding in findings:
            self.write_finding(finding)

    def _on_answer(self, _exchange: Exchange, findings: list, error: str | None) -> None:
        if error is not None:  # the engine failed on this exchange (a bug); redacted by the scanner
            self.report_problem("scan", error)
        for finding in findings:
            self.write_finding(finding)

    def _expected_uses(self) -> Counter[str]:
        """Credential uses counted as expected: by this process's engine and by the scanner's."""
        uses = Counter(self.engine.expected_uses) if self.engine is not None else Counter()
        if self.scan_process is not None:
            uses += self.scan_process.expected_uses
        return uses

    def write_finding(self, finding) -> None:
        """The one write path for engine findings and egress-policy findings."""
        if self.writer is None or self.counters is None:
            return
        try:
            written = self.writer.write(finding)
        except (OSError, HomeError) as exc:  # disk full, read-only home, a symlink planted at the log
            message = self.redact_log(f"{type(exc).__name__}: {exc}")
            self.counters.write_error(message)
            log.warning("traffic-guardian: cannot write a finding: %s", message)
            return
        self.counters.finding(finding.severity, written)

    def report_error(self, where: str, exc: BaseException) -> None:
        """Log an addon failure with traffic-derived text redacted; the exchange carries on."""
        self.report_problem(where, f"{type(exc).__name__}: {exc}")

    def report_problem(self, where: str, text: str) -> None:
        message = self.redact_log(f"{where}: {text}")
        if self.counters is not None:
            self.counters.addon_error(message)
        log.warning("traffic-guardian: addon error (traffic unaffected): %s", message)

    def egress(self, dest: str, protocol: str, inspected: bool, sni: str | None = None, *,
               source: str = "unknown", flow_id: str = "", bytes_out: int = 0) -> None:
        """Every destination the monitor forwards to: the egress inventory and the allowlist."""
        if self.egress_inventory is not None:
            self.egress_inventory.record(dest, protocol, sni=sni, bytes_out=bytes_out)
        if self.egress_policy is not None:
            finding = self.egress_policy.check(dest, protocol, source=source, sni=sni, flow_id=flow_id)
            if finding is not None:
                self.write_finding(finding)

    def egress_bytes(self, dest: str, *, bytes_out: int = 0, bytes_in: int = 0) -> None:
        if self.egress_inventory is not None:
            self.egress_inventory.add_bytes(dest, bytes_out=bytes_out, bytes_in=bytes_in)


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
        if decode_here and encoding:
            body, encoding = decode_body(body[:limit], encoding, limit), ""
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


runtime = GuardianRuntime()
addons = [GuardianAddon(runtime)]
