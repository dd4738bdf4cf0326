#!/usr/bin/env python3
"""Report whether the traffic monitor runs, how it is set up, and what it has found.

running / stopped / stale (a pidfile whose process is gone or is not our monitor), pid,
listener, mode, HTTPS inspection and the guardian CA's SHA-256 fingerprint, uptime,
traffic counters and expected credential uses (provider keys seen going to their own
provider), proxy restarts by the monitor's supervisor, the processes scoped to the monitor
(the child start.sh ran, and any of yours whose proxy variables point at it: pid, alive,
started by start.sh or not), a warning when the monitor is down while one still runs,
findings by severity and the last N findings (already redacted in the log).
--json prints one JSON object on stdout. Exit 0 running, 3 not running (LSB).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from traffic_guardian.cli import EXIT_NOT_RUNNING, EXIT_OK, emit_json_line  # noqa: E402
from traffic_guardian.detect.finding import parse_utc  # noqa: E402
from traffic_guardian.home.config import ConfigError, load_config  # noqa: E402
from traffic_guardian.home.egress_inventory import inventory_path, read_inventory, top_destinations  # noqa: E402
from traffic_guardian.home.findings_log import read_log  # noqa: E402
from traffic_guardian.home.guardian_home import GuardianHome  # noqa: E402
from traffic_guardian.home.run_files import monitor_status, read_counters, read_supervisor  # noqa: E402
from traffic_guardian.home.scoped_processes import scoped_to_monitor  # noqa: E402
from traffic_guardian.home.secrets_summary import read_summary  # noqa: E402
from traffic_guardian.home.trust import guardian_ca_fingerprint  # noqa: E402
from traffic_guardian.report.formatting import format_finding_line, format_severity_counts, terminal_safe  # noqa: E402

PROGRAM = "status.py"
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")


def findings_log_path(args, home: GuardianHome, info: dict) -> Path:
    """The running monitor's log (from its state), else the configured one, else the default."""
    if info.get("findings_log"):
        return Path(info["findings_log"])
    try:
        return load_config(args.config).log_path
    except ConfigError as error:
        print(f"{PROGRAM}: {error.source}: config does not load; reading the default log location",
              file=sys.stderr)
        return home.root / "logs" / "findings.jsonl"


def uptime_seconds(started_at: str | None) -> int | None:
    if not started_at:
        return None
    try:
        started = parse_utc(started_at)
    except ValueError:
        return None
    return max(0, int((datetime.now(UTC) - started).total_seconds()))


def collect(args) -> dict:
    home = GuardianHome.from_env()
    status = monitor_status(home)
    info = status.info if status.running else {}
    counters = read_counters(home) if status.running else {}
    log_path = findings_log_path(args, home, info)
    reader = read_log(log_path)
    by_severity = dict.fromkeys(SEVERITY_ORDER, 0)
    last: list[dict] = []
    total = 0
    log_error = None
    try:
        for finding in reader:
            total += 1
            severity = finding.get("severity")
            if isinstance(severity, str):
                by_severity[severity] = by_severity.get(severity, 0) + 1
            last.append(finding)
            if len(last) > args.last:
                last.pop(0)
    except OSError as exc:  # a symlink planted at the log, a permission problem: report, still show the rest
        log_error = f"{log_path}: cannot read the findings log: {exc.strerror or exc}"
        print(f"{PROGRAM}: {log_error}", file=sys.stderr)
    supervisor = read_supervisor(home)
    scoped = scoped_to_monitor(home, status.info)
    fingerprint = info.get("ca_fingerprint_sha256")
    if status.running and info.get("https_inspection") and not fingerprint:
        fingerprint = guardian_ca_fingerprint(home)
    return {
        "state": status.state,
        "pid": status.pid,
        "home": str(home.root),
        "listen": info.get("listen"),
        "proxy_url": info.get("proxy_url"),
        "mode": info.get("mode"),
        "https_inspection": info.get("https_inspection"),
        "ca_fingerprint_sha256": fingerprint,
        "started_at": info.get("started_at"),
        "uptime_seconds": uptime_seconds(info.get("started_at")),
        "config_sha256": info.get("config_sha256"),
        "skill_version": info.get("skill_version"),
        "requests": counters.get("requests"),
        "expected_credential_uses": counters.get("expected_credential_uses", {}),
        "write_errors": counters.get("write_errors"),
        "last_write_error": counters.get("last_write_error"),
        "addon_errors": counters.get("addon_errors"),
        "last_addon_error": counters.get("last_addon_error"),
        "scan_waits": counters.get("scan_waits"),
        "syslog_sent": counters.get("syslog_sent"),
        "syslog_dropped": counters.get("syslog_dropped"),
        "messages_cut": counters.get("messages_cut"),
        "bytes_unscanned": counters.get("bytes_unscanned"),
        "upstream_tls_errors": counters.get("upstream_tls_errors"),
        "last_upstream_tls_error": counters.get("last_upstream_tls_error"),
        "storage_problem": (log_error or storage_problem(log_path)) if status.running else log_error,
        "egress_destinations": len(read_inventory(inventory_path(home))) if status.running else None,
        "top_destinations": top_destinations(home, 5) if status.running else [],
        "known_secrets": known_secrets_status(home) if status.running else None,
        "proxy_restarts": supervisor.get("restarts", 0) if status.running else None,
        "last_proxy_exit": supervisor.get("last_exit") if status.running else None,
        "last_proxy_restart_at": supervisor.get("last_restart_at") if status.running else None,
        "proxy_bypasses": supervisor.get("proxy_bypasses", 0) if status.running else None,
        "bypass_watch": supervisor.get("bypass_watch") if status.running else None,
        "scoped_processes": [p.as_dict() for p in scoped],
        "scoped_offline": [p.as_dict() for p in scoped if p.alive] if not status.running else [],
        "findings_log": str(log_path),
        "findings_total": total,
        "findings_by_severity": by_severity,
        "unreadable_log_lines": reader.skipped,
        "last_findings": last[::-1] if args.last else [],
    }


def storage_problem(log_path: Path) -> str | None:
    """Why the monitor cannot log findings right now, checked here directly: on a read-only
    home the monitor cannot update counters.json either, so its own error count never arrives."""
    directory = log_path.parent
    if not directory.is_dir():
        return f"{directory}: log directory is missing (recreated at the next finding)"
    if not os.access(directory, os.W_OK):
        return f"{directory}: not writable (read-only file system or permissions): findings are not logged"
    try:
        space = os.statvfs(directory)
    except OSError:
        return None
    if space.f_bavail == 0:
        return f"{directory}: no space left on the device: findings are not logged"
    return None


def known_secrets_status(home: GuardianHome) -> dict | None:
    """Count and salted fingerprints of the PicoClaw secrets the monitor watches (never values)."""
    summary = read_summary(home)
    if summary is None:
        return None
    return {"count": summary.get("count", 0), "config_version": summary.get("version"),
            "secrets": [{key: item.get(key) for key in ("owner", "kind", "fingerprint")}
                        for item in summary.get("secrets", []) if isinstance(item, dict)],
            "unwatchable": [item for item in summary.get("unwatchable") or [] if isinstance(item, dict)],
            "coverage": [item for item in summary.get("coverage") or [] if isinstance(item, dict)]}


def print_human(report: dict) -> None:
    state = report["state"]
    lines = [f"traffic-guardian: {state}" + (f" (pid {report['pid']})" if report["pid"] else "")]
    if state == "stale":
        lines.append("  stale pidfile: the process is gone or is not our monitor; scripts/stop.py cleans it")
    for process in report["scoped_offline"]:
        lines.append(f"  WARNING: the monitor is down while pid {process['pid']} ({terminal_safe(process['comm'])}) "
                     "is still pointed at it: its requests fail until scripts/start.sh --background runs again "
                     "(same credentials and port, no restart of that process needed)")
    if state == "running":
        https = "on" if report["https_inspection"] else "off (tunnels pass through; destinations recorded)"
        lines += [
            f"  listener: {report['proxy_url']}  mode: {report['mode']}  uptime: {report['uptime_seconds']}s",
            f"  https inspection: {https}",
        ]
        if report["ca_fingerprint_sha256"]:
            lines.append(f"  guardian CA SHA-256: {report['ca_fingerprint_sha256']}")
        uses = report["expected_credential_uses"]
        lines.append(f"  requests: {report['requests'] or 0}  expected credential uses: "
                     + (", ".join(f"{terminal_safe(k)} {v}" for k, v in sorted(uses.items())) or "none"))
        if report["known_secrets"]:
            known = report["known_secrets"]
            lines.append(f"  known secrets watched: {known['count']} (fingerprints "
                         + (", ".join(terminal_safe(f"{s['owner']} {s['fingerprint']}") for s in known["secrets"])
                            or "none") + ")")
            for item in known["unwatchable"]:
                lines.append("  not watchable: " + terminal_safe(
                    f"{item.get('owner')} {item.get('kind')} in {item.get('source')}: {item.get('reason')}"))
            through = [path for path in known["coverage"] if path.get("route") == "monitor"]
            lines.append(f"  PicoClaw egress paths: {len(through)} through the monitor, "
                         f"{len(known['coverage']) - len(through)} not or not known")
            for path in known["coverage"]:
                if path.get("route") != "monitor":
                    lines.append("  egress " + terminal_safe(
                        f"{path.get('route')}: {path.get('owner')} -> {path.get('target')} "
                        f"({path.get('config_path')}): {path.get('reason')}"))
        if report["top_destinations"]:
            lines.append("  top destinations: " + ", ".join(
                terminal_safe(f"{d['dest']} {d['requests']} req") for d in report["top_destinations"]))
        if report["write_errors"]:
            last_error = terminal_safe(report["last_write_error"])
            lines.append(f"  write errors: {report['write_errors']} (last: {last_error})")
        if report["storage_problem"]:
            lines.append(f"  write failure: {terminal_safe(report['storage_problem'])}")
        if report["addon_errors"]:
            last_error = terminal_safe(report["last_addon_error"])
            lines.append(f"  addon errors (traffic unaffected): {report['addon_errors']} (last: {last_error})")
        if report["messages_cut"]:
            lines.append(f"  not fully scanned: {report['messages_cut']} messages longer than max_scan_bytes "
                         f"({report['bytes_unscanned'] or 0} bytes of known size unscanned; scan_incomplete findings)")
        if report["upstream_tls_errors"]:
            lines.append(f"  upstream TLS errors (requests not forwarded): {report['upstream_tls_errors']} "
                         f"(last: {terminal_safe(report['last_upstream_tls_error'])})")
        if report["proxy_restarts"]:
            lines.append(f"  proxy restarts: {report['proxy_restarts']} (last: the proxy process "
                         f"{terminal_safe(report['last_proxy_exit'])}, restarted {report['last_proxy_restart_at']})")
        if report["proxy_bypasses"] or (report["bypass_watch"] or "on") not in ("on", "starting"):
            lines.append(f"  proxy bypasses seen: {report['proxy_bypasses'] or 0} "
                         f"(watch: {terminal_safe(report['bypass_watch'])})")
        for process in report["scoped_processes"]:
            alive = "running" if process["alive"] else f"exited (status {process['exit_status']})"
            lines.append(f"  scoped process: pid {process['pid']} ({terminal_safe(process['comm'])}), {alive}, "
                         f"started by {process['started_by']}")
        if report["scan_waits"]:
            lines.append(f"  scanner behind: the proxy waited for it {report['scan_waits']} times")
        if report["syslog_sent"] or report["syslog_dropped"]:
            lines.append(f"  syslog copies: {report['syslog_sent'] or 0} sent, {report['syslog_dropped'] or 0} "
                         "dropped (queue full or collector unreachable; the findings log has them all)")
    counts = format_severity_counts(report["findings_by_severity"])
    lines.append(f"  findings: {report['findings_total']} ({counts})  log: {report['findings_log']}")
    if report["unreadable_log_lines"]:
        lines.append(f"  unreadable log lines skipped: {report['unreadable_log_lines']}")
    if report["last_findings"]:
        lines.append(f"  last {len(report['last_findings'])} findings (newest first):")
        lines += [f"    {format_finding_line(finding)}" for finding in report["last_findings"]]
    sys.stdout.write("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--last", type=int, default=5, metavar="N",
                        help="show the last N findings (default 5)")
    parser.add_argument("--config", help="config file (used only to find the log when no monitor runs)")
    args = parser.parse_args(argv)
    if args.last < 0:
        parser.error("--last must be 0 or more")
    report = collect(args)
    if args.json:
        emit_json_line(report)
    else:
        print_human(report)
    return EXIT_OK if report["state"] == "running" else EXIT_NOT_RUNNING


if __name__ == "__main__":
    sys.exit(main())
