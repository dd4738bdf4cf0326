"""The monitor's shared state inside mitmdump: options, engine, scanner process, writer, counters.

The addon's concern classes (addon.py) each see one GuardianRuntime. It declares the
mitmproxy options, builds everything from the guardian config when mitmdump configures
(the engine watching the PicoClaw secrets, the findings writer, counters, egress
inventory and allowlist, run files), starts the scanner process once the event loop runs,
writes the counters file every second, and closes it all in order when mitmdump stops.
A finding, an error or a problem reaches the log only through its redaction.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import time
from collections import Counter

from mitmproxy import ctx

from traffic_guardian.detect.egress_policy import EgressPolicy
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import OUTBOUND, Exchange
from traffic_guardian.detect.finding import Finding
from traffic_guardian.detect.private_destination import PrivateDestinations, is_ip_literal
from traffic_guardian.detect.redact import Redactor
from traffic_guardian.home.config import load_config
from traffic_guardian.home.counters import MonitorCounters
from traffic_guardian.home.egress_inventory import EgressInventory
from traffic_guardian.home.guardian_home import GuardianHome, HomeError
from traffic_guardian.home.prometheus_text import write_metrics
from traffic_guardian.home.run_files import RunFilesKeeper
from traffic_guardian.home.scoped_processes import gateway_environ
from traffic_guardian.home.secrets_summary import write_summary
from traffic_guardian.home.syslog_sink import SyslogSink, parse_target
from traffic_guardian.home.writer import FindingWriter
from traffic_guardian.picoclaw.secrets_watch import engine_from_config
from traffic_guardian.proxy import heap
from traffic_guardian.proxy.deferred_scans import DeferredScans
from traffic_guardian.proxy.log_redaction import LogRedactor, install_record_factory
from traffic_guardian.proxy.scan_process import ScanProcess
from traffic_guardian.proxy.supervisor import SUPERVISOR_PID_ENV

log = logging.getLogger("traffic_guardian")
MAX_PENDING_RESOLUTIONS = 256  # name resolutions for private_destination in flight at once

COUNTERS_INTERVAL_SECS = 1.0
METRICS_INTERVAL_SECS = 5.0  # how often metrics_textfile is rewritten (home/prometheus_text.py)


class GuardianRuntime:
    """Options and the shared engine/writer/counters; the other addons call into it."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.scan_process: ScanProcess | None = None  # set once running, when config scan_process is on
        self._config = None
        self.syslog: SyslogSink | None = None  # findings copied to syslog, off by default
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
        self.private_destinations: PrivateDestinations | None = None
        self._tasks: set[asyncio.Task] = set()  # name resolutions in flight (a reference keeps each alive)
        self.run_files: RunFilesKeeper | None = None
        self._trimmed_at = time.monotonic()
        self._metrics_at = 0.0  # the first flush writes metrics at once
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
        self.engine = engine_from_config(config, redactor, environ=lambda: gateway_environ(home))
        # Log lines and egress findings are short: redacting them does not earn Hyperscan's
        # compile time and memory, which only an engine that scans here (no scanner process) pays.
        self.redact_text = self.engine.twin(use_hyperscan=False).redact_text
        self.redact_log = LogRedactor(self.redact_text)
        install_record_factory(self.redact_log)
        if self.scan_process is not None:
            self.scan_process.close()
            self.scan_process = None
        self.writer = FindingWriter.from_config(config)
        if self.syslog is not None:
            self.syslog.close()
        self.syslog = SyslogSink(parse_target(config.syslog)) if config.values.get("syslog") else None
        self.home = home
        self.counters = MonitorCounters(home)
        # The run files name the supervisor (supervisor.py), our parent; mitmdump runs in this process.
        self.run_files = RunFilesKeeper(home, int(os.environ.get(SUPERVISOR_PID_ENV) or os.getpid()))
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
        derived = (lambda: known.current().snapshot.egress_hosts) if known is not None else (lambda: ())
        self.egress_policy = EgressPolicy(
            config.egress_allowlist, derived,
            config.dedup_window_secs, max_tracked=config.egress_inventory_max, redact=self.redact_text)
        self.private_destinations = PrivateDestinations(
            config.private_destination_allowlist, derived, config.dedup_window_secs,
            max_tracked=config.egress_inventory_max, redact=self.redact_text)

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
        if self.syslog is not None:
            self.syslog.close()
        self.flush_counters(force=True)
        self.write_metrics(stopping=True)
        if self.writer is not None:
            self.writer.close()

    def write_metrics(self, stopping: bool = False) -> None:
        """metrics_textfile (home/prometheus_text.py); a failure is a log line, never the end of the counters task."""
        if self._config is None:
            return
        try:
            write_metrics(self._config, stopping)
        except (OSError, HomeError) as exc:
            log.warning("traffic-guardian: cannot write metrics: %s", self.redact_log(str(exc)))

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
                self.counters.set_scanner(self.scan_process.in_flight, self.scan_process.restarts)
            self.counters.set_expected_uses(self._expected_uses())
            if self.syslog is not None:
                self.counters.set_syslog(self.syslog.sent, self.syslog.dropped)
            self.counters.flush(force)
            if self.egress_inventory is not None:
                self.egress_inventory.maybe_save(force)
            if self.run_files is not None and self.run_files.check():
                log.warning("traffic-guardian: run files were gone (home removed?); restored them")
            if time.monotonic() - self._metrics_at >= METRICS_INTERVAL_SECS:
                self._metrics_at = time.monotonic()
                self.write_metrics()
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
        if finding.pattern == "scan_incomplete":  # counted every time, whatever dedup writes
            self.counters.cut(finding.bytes_total, finding.bytes_scanned)
        try:
            written = self.writer.write(finding)
        except (OSError, HomeError) as exc:  # disk full, read-only home, a symlink planted at the log
            message = self.redact_log(f"{type(exc).__name__}: {exc}")
            self.counters.write_error(message)
            log.warning("traffic-guardian: cannot write a finding: %s", message)
            return
        self.counters.finding(finding.severity, written, finding.threat_type, finding.pattern, finding.variant,
                              finding.timestamp)
        if written and self.syslog is not None:  # a copy of the line just written: the same redacted object
            self.syslog.submit(finding.to_json(), finding.severity, finding.pattern, finding.timestamp)

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
        if self.counters is not None and bytes_out:
            self.counters.traffic(bytes_out, 0)
        if self.egress_inventory is not None:
            self.egress_inventory.record(dest, protocol, sni=sni, bytes_out=bytes_out)
        if self.egress_policy is not None:
            finding = self.egress_policy.check(dest, protocol, source=source, sni=sni, flow_id=flow_id)
            if finding is not None:
                self.write_finding(finding)

    def check_destination(self, host: str, port: int, source: str) -> None:
        """Before the proxy connects: an IP literal is classified now; a name is resolved off the
        request path (a task; the connection does not wait for it) and each address classified."""
        if self.private_destinations is None:
            return
        if is_ip_literal(host):
            self._private_finding(host, port, [host], "literal", source)
            return
        if len(self._tasks) >= MAX_PENDING_RESOLUTIONS:  # a flood of new names: say so, never queue without bound
            self.report_problem("private_destination", f"{MAX_PENDING_RESOLUTIONS} name resolutions in flight; "
                                                       f"{host}:{port} not checked")
            return
        task = asyncio.get_running_loop().create_task(self._resolve_and_check(host, port, source))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve_and_check(self, host: str, port: int, source: str) -> None:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return  # the proxy's own connect reports the failure to the client
        self._private_finding(host, port, sorted({info[4][0] for info in infos}), "resolved", source)

    def check_connected(self, host: str, port: int, address: str, source: str) -> None:
        """After the connect: the address actually used (a DNS answer may have changed since)."""
        if self.private_destinations is not None and address != host:
            self._private_finding(host, port, [address], "connected", source)

    def _private_finding(self, host: str, port: int, addresses: list[str], how: str, source: str) -> None:
        try:
            finding = self.private_destinations.check(host, port, addresses, how, source=source)
        except Exception as exc:  # noqa: BLE001  (a bug here must never touch the connection)
            self.report_error("private_destination", exc)
            return
        if finding is not None:
            self.write_finding(finding)

    def upstream_tls_failed(self, dest: str, reason: str, source: str) -> None:
        """An upstream whose certificate (or handshake) failed: the request never left. Counted for
        status.py and one upstream_tls_error finding per destination per dedup window, so a
        private upstream missing from upstream_ca_bundle is seen, not only in monitor.log."""
        reason = self.redact_log(reason)[:300]
        if self.counters is not None:
            self.counters.upstream_tls_error(f"{dest}: {reason}")
        self.write_finding(Finding(
            direction=OUTBOUND, protocol="https", threat_type="POLICY", pattern="upstream_tls_error",
            variant="handshake_failed", severity="info", source=source, dest=dest, location="connection.tls",
            snippet=reason, description="TLS with the upstream failed (certificate verification, for a private "
            "upstream: add its CA as upstream_ca_bundle); the request was not forwarded"))

    def egress_bytes(self, dest: str, *, bytes_out: int = 0, bytes_in: int = 0) -> None:
        if self.counters is not None:
            self.counters.traffic(bytes_out, bytes_in)
        if self.egress_inventory is not None:
            self.egress_inventory.add_bytes(dest, bytes_out=bytes_out, bytes_in=bytes_in)

