"""Generated findings logs for the query, findings-log and posture tests.

Findings are written through the real FindingWriter (so rotation and line format are the
writer's own), with snippets in the redacted form only: no secret-shaped text at all.
Timestamps sit on a 7-minute grid offset by 3.5 minutes from "now", so no finding lies
within 30 seconds of a whole-minute duration bound (15m, 1h, 2h, 7d): a test and the
script computing "now" a second apart still select the same findings.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from traffic_guardian.detect.finding import Finding, utc_timestamp
from traffic_guardian.home.guardian_home import GuardianHome
from traffic_guardian.home.writer import FindingWriter

SHAPES = (
    # (threat_type, pattern, variant, direction, severity, location)
    ("EXFIL", "ai_api_key", "openai_project", "outbound", "high", "request.header:x-api-key"),
    ("EXFIL", "aws_access_key", "secret_access_key", "outbound", "critical", "request.body"),
    ("EXFIL", "dotenv_file", "dotenv_path", "outbound", "low", "request.url"),
    ("EXFIL", "jwt", "jwt", "outbound", "medium", "request.body"),
    ("INJECTION", "pipe_to_shell", "download_pipe", "inbound", "high", "response.body"),
    ("INJECTION", "reverse_shell", "dev_tcp", "inbound", "critical", "websocket.message"),
    ("POLICY", "unexpected_egress", "host", "outbound", "info", "request.url"),
)
DESTS = ("api.openai.com:443", "evil.example.com:443", "paste.example.org:80", "127.0.0.1:8080",
         "cdn.example.com:8443")


def redacted_snippet(pattern: str) -> str:
    return f"key=[REDACTED {pattern} len=40 fp={secrets.token_hex(6)}] sent"


def make_finding(index: int, moment: datetime) -> Finding:
    threat_type, pattern, variant, direction, severity, location = SHAPES[index % len(SHAPES)]
    return Finding(direction=direction, protocol="https", threat_type=threat_type, pattern=pattern,
                   variant=variant, severity=severity, source="127.0.0.1:50000",
                   dest=DESTS[(index // 2) % len(DESTS)], location=location,
                   snippet=redacted_snippet(pattern), description=f"test finding {index}",
                   flow_id=f"flow-{index}", suppressed=2 if index % 5 == 0 else 0,
                   timestamp=utc_timestamp(moment))


def spread_findings(count: int, now: datetime | None = None, step_minutes: float = 7) -> list[Finding]:
    """count findings, oldest first, the newest 3.5 minutes before now."""
    now = now or datetime.now(UTC)
    newest = now - timedelta(minutes=3.5)
    return [make_finding(i, newest - timedelta(minutes=step_minutes * (count - 1 - i))) for i in range(count)]


def writer_for(home: Path, max_bytes: int = 64 * 1024, backups: int = 50) -> FindingWriter:
    home = Path(home)
    return FindingWriter(GuardianHome(home), home / "logs" / "findings.jsonl", max_bytes, backups, 0)


def write_findings(home: Path, findings, max_bytes: int = 64 * 1024, backups: int = 50) -> Path:
    """Write findings through a FindingWriter; returns the live log path."""
    writer = writer_for(home, max_bytes, backups)
    try:
        for finding in findings:
            assert writer.write(finding)
    finally:
        writer.close()
    return writer.path


def log_bytes(live: Path) -> bytes:
    """The retained log as one stream, oldest file first (what finding_log_sha256 hashes)."""
    from traffic_guardian.home.writer import log_files

    return b"".join(path.read_bytes() for path in log_files(live))


def ids(records) -> list[str]:
    return [r["finding_id"] for r in records]


def jsonl(text: str | bytes) -> list[dict]:
    if isinstance(text, bytes):
        text = text.decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def compact_line(severity: str = "high") -> bytes:
    """One short finding-shaped line, for logs of a million lines that must stay quick to write."""
    record = {"timestamp": "2026-04-26T10:00:00.000Z", "severity": severity, "threat_type": "EXFIL",
              "pattern": "ai_api_key", "dest": "evil.example.com:443", "finding_id": secrets.token_hex(16)}
    return (json.dumps(record, separators=(",", ":")) + "\n").encode()
