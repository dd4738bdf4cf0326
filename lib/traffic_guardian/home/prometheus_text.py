"""The monitor's state as Prometheus metrics (text exposition format 0.0.4), from the home alone.

An operator with many gateways already runs Prometheus; node_exporter's textfile collector
reads a `.prom` file, so the running monitor writes this exposition to `metrics_textfile`
every few seconds (atomically) and `scripts/metrics.py` prints the same from the home,
monitor running or not. Everything comes from the run files the monitor already keeps
(counters, supervisor, known-secrets summary, the guardian CA): no second set of books.

Names follow Prometheus conventions: one prefix, `_total` for counters, seconds and bytes
as base units. Labels are bounded sets: direction, threat_type, pattern (pattern ids),
severity, owner kind, provider (a provider id or `picoclaw_<owner type>`), route. No label
ever carries a secret, a snippet, a host or a URL. Counters restart from zero with the
monitor; `start_time_seconds` says when.
"""

from __future__ import annotations

from pathlib import Path

from traffic_guardian.detect.finding import parse_utc
from traffic_guardian.home.guardian_home import GuardianHome
from traffic_guardian.home.run_files import RUNNING, monitor_status, read_record, read_supervisor
from traffic_guardian.home.secrets_summary import read_summary
from traffic_guardian.home.trust import ca_cert_path

PREFIX = "picoclaw_traffic_guardian_"
SEVERITIES = ("info", "low", "medium", "high", "critical")
CONTENT_TYPE = "text/plain; version=0.0.4"


class Exposition:
    """Families in the order added, each with HELP, TYPE and its samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        full = PREFIX + name
        self.lines += [f"# HELP {full} {help_text}", f"# TYPE {full} {kind}"]
        for labels, value in samples:
            rendered = ",".join(f'{key}="{_escape(str(val))}"' for key, val in sorted(labels.items()))
            self.lines.append(f"{full}{{{rendered}}} {_number(value)}" if rendered else f"{full} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _count(value) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _mapping(record: dict, key: str) -> dict:
    """record[key] when the run file holds an object there, else {} (a damaged file counts nothing)."""
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def _epoch(timestamp) -> float | None:
    if not isinstance(timestamp, str):
        return None
    try:
        return parse_utc(timestamp).timestamp()
    except ValueError:
        return None


def ca_expiry(home: GuardianHome) -> float | None:
    """notAfter of the guardian CA as Unix seconds; None when there is no CA (HTTPS inspection never on)."""
    try:
        data = ca_cert_path(home).read_bytes()
        from cryptography import x509  # mitmproxy brings it; without it the metric is left out
    except (OSError, ImportError):
        return None
    try:
        return x509.load_pem_x509_certificate(data).not_valid_after_utc.timestamp()
    except ValueError:
        return None


def _provider_label(key: str) -> str:
    """expected-use keys: a provider id, or known:<owner type>:<name> (PicoClaw's own secret)."""
    if key.startswith("known:"):
        return "picoclaw_" + key.removeprefix("known:").split(":", 1)[0]
    return key


def render(home: GuardianHome, stopping: bool = False) -> str:
    """The exposition for this home; stopping=True is the monitor's last word (up 0) as it exits."""
    status = monitor_status(home)
    running = status.state == RUNNING and not stopping
    counters = read_record(home, home.counters_file) if running or stopping else {}
    supervisor = read_supervisor(home) if running or stopping else {}
    out = Exposition()
    out.family("up", "gauge", "1 when the monitor of this guardian home runs, else 0.", [({}, 1 if running else 0)])
    started = _epoch(status.info.get("started_at")) if (running or stopping) and status.info else None
    if started is not None:
        out.family("start_time_seconds", "gauge", "When the running monitor started (Unix seconds).",
                   [({}, started)])
    out.family("http_messages_total", "counter", "HTTP messages inspected: requests outbound, responses inbound.",
               [({"direction": "outbound"}, _count(counters.get("requests"))),
                ({"direction": "inbound"}, _count(counters.get("responses")))])
    out.family("websocket_messages_total", "counter", "Websocket messages inspected, both directions.",
               [({}, _count(counters.get("websocket_messages")))])
    out.family("transfer_bytes_total", "counter", "Bytes forwarded (headers and bodies, websocket messages).",
               [({"direction": "outbound"}, _count(counters.get("bytes_out"))),
                ({"direction": "inbound"}, _count(counters.get("bytes_in")))])
    kinds = _mapping(counters, "findings_by_kind")
    samples = []
    for key, value in sorted(kinds.items()):
        threat_type, _, rest = str(key).partition("|")
        pattern, _, severity = rest.partition("|")
        samples.append(({"threat_type": threat_type, "pattern": pattern, "severity": severity}, _count(value)))
    out.family("findings_total", "counter", "Findings written to the log, by threat type, pattern id and severity.",
               samples)
    severities = _mapping(counters, "findings_by_severity")
    out.family("findings_by_severity_total", "counter",
               "Findings written, by severity alone: every severity always present, so a first one is an increase.",
               [({"severity": severity}, _count(severities.get(severity))) for severity in SEVERITIES])
    out.family("findings_suppressed_total", "counter", "Findings left out as repeats within dedup_window_secs.",
               [({}, _count(counters.get("findings_suppressed")))])
    by_owner = _mapping(counters, "known_secret_by_kind")
    out.family("known_secret_findings_total", "counter",
               "known_secret findings (an operator's PicoClaw secret out of place), by owner kind.",
               [({"owner_kind": str(kind)}, _count(value)) for kind, value in sorted(by_owner.items())])
    uses: dict[str, int] = {}
    for key, value in _mapping(counters, "expected_credential_uses").items():
        label = _provider_label(str(key))
        uses[label] = uses.get(label, 0) + _count(value)
    out.family("expected_credential_uses_total", "counter",
               "Credentials seen in their normal place (their own provider or PicoClaw binding), by provider.",
               [({"provider": provider}, value) for provider, value in sorted(uses.items())])
    out.family("proxy_bypasses_total", "counter", "Connections of scoped processes around the proxy (proxy_bypass).",
               [({}, _count(supervisor.get("proxy_bypasses")))])
    out.family("proxy_restarts_total", "counter", "Proxy processes the supervisor restarted after they died.",
               [({}, _count(supervisor.get("restarts")))])
    out.family("scanner_backlog", "gauge", "Exchanges handed to the scanner process and not yet answered.",
               [({}, _count(counters.get("scanner_backlog")))])
    out.family("scanner_waits_total", "counter", "Hand-offs that waited because the scanner process was behind.",
               [({}, _count(counters.get("scan_waits")))])
    out.family("scanner_restarts_total", "counter", "Scanner processes replaced (died or went silent).",
               [({}, _count(counters.get("scanner_restarts")))])
    out.family("messages_not_fully_scanned_total", "counter", "Parts longer than the scan bound (scan_incomplete).",
               [({}, _count(counters.get("messages_cut")))])
    out.family("unscanned_bytes_total", "counter", "Bytes of known size beyond the scan bound.",
               [({}, _count(counters.get("bytes_unscanned")))])
    out.family("syslog_messages_total", "counter", "Findings copied to syslog (config syslog), by outcome.",
               [({"outcome": "sent"}, _count(counters.get("syslog_sent"))),
                ({"outcome": "dropped"}, _count(counters.get("syslog_dropped")))])
    out.family("write_errors_total", "counter", "Findings that could not be written (disk full, read-only home).",
               [({}, _count(counters.get("write_errors")))])
    out.family("addon_errors_total", "counter", "Addon failures; the traffic itself went on.",
               [({}, _count(counters.get("addon_errors")))])
    last = _epoch(counters.get("last_finding_at"))
    if last is not None:
        out.family("last_finding_timestamp_seconds", "gauge", "When the last finding was written (Unix seconds).",
                   [({}, last)])
    expiry = ca_expiry(home)
    if expiry is not None:
        out.family("ca_expiry_timestamp_seconds", "gauge", "When the guardian CA certificate expires (Unix seconds).",
                   [({}, expiry)])
    summary = read_summary(home) if running or stopping else None
    if summary is not None:
        out.family("known_secrets_watched", "gauge", "PicoClaw secrets the monitor watches by value.",
                   [({}, _count(summary.get("count")))])
        routes: dict[str, int] = {"monitor": 0, "bypass": 0, "unknown": 0}
        for path in summary.get("coverage") or []:
            if isinstance(path, dict) and path.get("route") in routes:
                routes[str(path["route"])] += 1
        out.family("egress_paths", "gauge", "The PicoClaw config's egress paths by route (monitor, bypass, unknown).",
                   [({"route": route}, count) for route, count in routes.items()])
    return out.text()



def metrics_path(config) -> Path | None:
    """Where the running monitor writes the exposition (metrics_textfile, inside the home); None: off."""
    return config.state_path("metrics_textfile") if config.values.get("metrics_textfile") else None


def write_metrics(config, stopping: bool = False) -> None:
    """Atomically (0600): node_exporter's textfile collector never reads half a file."""
    path = metrics_path(config)
    if path is not None:
        config.home.write_atomic(path, render(config.home, stopping).encode("utf-8"))
