"""The posture fragment (clawsec-traffic-posture/v1) that picoclaw-security-guardian folds
into its drift profiles.

A drift profile is compared by hash, so this fragment must be a pure function of the
guardian's state: the same state gives the same bytes. That rules out the wall clock,
pids, absolute paths and dict ordering; it is why generated_at is the time of the latest
state change (or SOURCE_DATE_EPOCH) and why the output is canonical JSON (sorted keys,
two-space indent, ASCII, one trailing newline).

What counts as state: the monitor's run (status, start time, listen address, mode, HTTPS
inspection, the config digest it runs with), the guardian CA on disk, the effective
config, the ruleset, and the retained findings log. Nothing in the fragment is secret:
findings appear only as counts and a digest, never snippets.

SPEC.md section 11 is the field-by-field contract; config/posture.schema.json is its schema.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from traffic_guardian import PLATFORM, VERSION
from traffic_guardian.detect.finding import SEVERITIES, parse_utc, utc_timestamp
from traffic_guardian.detect.rules import PATTERN_IDS, RULESET, ruleset_digest
from traffic_guardian.home.findings_log import live_log_path, read_log, summarize
from traffic_guardian.home.run_files import RUNNING, monitor_status, read_supervisor
from traffic_guardian.home.secrets_summary import read_summary
from traffic_guardian.home.trust import guardian_ca_fingerprint

POSTURE_SCHEMA = "clawsec-traffic-posture/v1"
SKILL_NAME = "picoclaw-traffic-guardian"
THREAT_TYPES = ("EXFIL", "INJECTION", "POLICY")
EPOCH = "1970-01-01T00:00:00.000Z"
ENV_SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_LISTEN = re.compile(r"(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}")


class PostureError(Exception):
    """A value the profile cannot be built from; the message names it."""


def build_profile(config, env: dict[str, str] | None = None) -> dict:
    """The posture fragment as a dict (render_profile turns it into canonical bytes)."""
    env = os.environ if env is None else env
    status = monitor_status(config.home)
    running = status.state == RUNNING
    info = status.info if running else {}

    digest = hashlib.sha256()
    reader = read_log(live_log_path(config, status), digest)
    summary = summarize(reader)
    last_finding_at = _timestamp(summary.last_finding_at)

    started_at = _timestamp(status.info.get("started_at")) if status.info else None
    generated_at, generated_from = _generated_at(env, started_at, last_finding_at)
    return {
        "schema_version": POSTURE_SCHEMA,
        "platform": PLATFORM,
        "skill": SKILL_NAME,
        "skill_version": VERSION,
        "generated_at": generated_at,
        "generated_at_source": generated_from,
        "monitor_status": status.state,
        "monitor_started_at": started_at if running else None,
        "mode": _string(info.get("mode")) or config.mode,
        "listen": _listen(info) if running else None,
        "https_inspection": info.get("https_inspection") is True,
        "ca_fingerprint_sha256": ca_fingerprint(config.home) or _hex64(info.get("ca_fingerprint_sha256")),
        "config_sha256": _hex64(info.get("config_sha256")) or config.sha256(),
        "ruleset_digest": ruleset_digest(RULESET),
        "pattern_ids": list(PATTERN_IDS),
        "redact_snippets": config.redact_snippets,
        "limits": {
            "max_scan_bytes": config.max_scan_bytes,
            "log_max_bytes": config.log_max_bytes,
            "log_backups": config.log_backups,
            "dedup_window_secs": config.dedup_window_secs,
        },
        "finding_log_sha256": digest.hexdigest(),
        "finding_log": {
            "files": reader.files_read,
            "bytes": reader.bytes_read,
            "unreadable_lines": reader.skipped,
        },
        "findings": _findings_block(summary),
        "last_finding_at": last_finding_at,
        "known_secrets": _known_secrets_block(config.home),
        "proxy_restarts": _count(read_supervisor(config.home).get("restarts")) if running else None,
        "scan_incomplete": {"messages": summary.messages_cut, "bytes_unscanned": summary.bytes_unscanned},
    }


def _known_secrets_block(home) -> dict | None:
    """How many of the operator's PicoClaw secrets the monitor watches, by owner and salted
    fingerprint (never a value): a reviewer sees a key added, removed or rotated as drift.
    Also the secrets it cannot watch and the gateway's egress paths with their route
    (monitor | bypass | unknown), so a new bypass shows as drift too."""
    summary = read_summary(home)
    if summary is None:
        return None
    secrets = sorted(
        ({"owner": str(s.get("owner", "")), "fingerprint": str(s.get("fingerprint", ""))}
         for s in summary.get("secrets") or [] if isinstance(s, dict)),
        key=lambda s: (s["owner"], s["fingerprint"]),
    )
    coverage = sorted(
        ({key: str(path.get(key, "")) for key in ("owner", "config_path", "target", "route")}
         for path in summary.get("coverage") or [] if isinstance(path, dict)),
        key=lambda path: (path["owner"], path["config_path"]),
    )
    unwatchable = sorted(
        ({key: str(item.get(key, "")) for key in ("owner", "kind", "source", "reason")}
         for item in summary.get("unwatchable") or [] if isinstance(item, dict)),
        key=lambda item: (item["owner"], item["source"], item["reason"]),
    )
    return {"watched": len(secrets), "secrets": secrets, "unwatchable": unwatchable, "egress_paths": coverage}


def render_profile(profile: dict) -> bytes:
    """Canonical bytes: sorted keys, two-space indent, ASCII only, one trailing newline."""
    return (json.dumps(profile, sort_keys=True, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def default_output_path(config) -> Path:
    """profile_output (PICOCLAW_TRAFFIC_GUARDIAN_PROFILE_OUTPUT overrides it), relative to the home."""
    return config.state_path("profile_output")


def write_profile(config, path: Path, data: bytes) -> bool:
    """Atomically write data to path (0600); False when the file already holds exactly data.

    Skipping an identical rewrite keeps the file's mtime too, so even an mtime-watching
    consumer sees nothing happen when nothing changed.
    """
    from traffic_guardian.home.guardian_home import is_inside, write_file_atomic

    path = Path(path)
    try:
        if path.is_file() and not path.is_symlink() and path.read_bytes() == data:
            os.chmod(path, 0o600)
            return False
    except OSError:
        pass
    if is_inside(path.parent, config.home.root):
        config.home.write_atomic(path, data)
    else:
        if path.is_symlink():
            raise PostureError(f"{path}: is a symlink; refusing to replace it")
        write_file_atomic(path, data)
    return True


def ca_fingerprint(home) -> str | None:
    """sha256 of the guardian CA certificate's DER as lowercase hex (trust.py computes it; status
    shows it in openssl's colon form); None when no CA has been generated."""
    return _hex64(guardian_ca_fingerprint(home))


def source_date_epoch(env) -> str | None:
    """SOURCE_DATE_EPOCH (reproducible-builds convention) as a timestamp; PostureError when malformed."""
    raw = env.get(ENV_SOURCE_DATE_EPOCH)
    if raw is None or raw == "":
        return None
    if not raw.strip().isdigit():
        raise PostureError(f"{ENV_SOURCE_DATE_EPOCH}={raw!r} is not a whole number of seconds since 1970")
    try:
        return utc_timestamp(datetime.fromtimestamp(int(raw.strip()), UTC))
    except (OverflowError, OSError, ValueError):
        raise PostureError(f"{ENV_SOURCE_DATE_EPOCH}={raw!r} is out of range") from None


def _generated_at(env, started_at: str | None, last_finding_at: str | None) -> tuple[str, str]:
    """(timestamp, where it came from): SOURCE_DATE_EPOCH, else the latest state change.

    The latest state change is the later of the monitor run's start (state.json) and the
    newest finding. A stop leaves no timestamp (stop removes the run files), so after a
    stop generated_at falls back to the newest finding, or to the epoch when the home has
    never seen one: consumers compare the fragment's content, not generated_at.
    """
    fixed = source_date_epoch(env)
    if fixed is not None:
        return fixed, "source_date_epoch"
    candidates = [t for t in (started_at, last_finding_at) if t]
    if candidates:
        return max(candidates), "last_state_change"
    return EPOCH, "none"


def _findings_block(summary) -> dict:
    """Counts with a fixed set of keys (every severity, every threat type) so consumers can
    rely on the shape; a value outside the known sets still counts, under its own key."""
    return {
        "total": summary.total,
        "suppressed": summary.suppressed,
        "by_severity": {**dict.fromkeys(SEVERITIES, 0), **summary.by_severity},
        "by_type": {**dict.fromkeys(THREAT_TYPES, 0), **summary.by_type},
        "by_pattern": dict(summary.by_pattern),
    }


def _timestamp(value) -> str | None:
    """A state or finding time as the findings' UTC form (…T10:00:00.000Z); None when unusable.

    Accepts ISO-8601 strings (with Z or an offset; naive means UTC) and epoch seconds.
    """
    try:
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, int | float):
            moment = datetime.fromtimestamp(value, UTC)
        elif isinstance(value, str):
            moment = parse_utc(value)
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    return utc_timestamp(moment)


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _string(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _hex64(value) -> str | None:
    """A sha256 from a run file, normalised to lowercase hex without separators."""
    if not isinstance(value, str):
        return None
    normal = value.replace(":", "").strip().lower()
    return normal if _HEX64.fullmatch(normal) else None


def _listen(info: dict) -> str | None:
    """host:port from the state's listen (or its proxy_url), never credentials or a path."""
    value = info.get("listen")
    if isinstance(value, str) and _LISTEN.fullmatch(value):
        return value
    proxy_url = info.get("proxy_url")
    if isinstance(proxy_url, str):
        try:
            parts = urlsplit(proxy_url)
            host, port = parts.hostname, parts.port
        except ValueError:
            return None
        if host and port:
            host = f"[{host}]" if ":" in host else host
            return f"{host}:{port}"
    return None
