"""counters: what the running monitor publishes for status.py, written atomically and bounded."""

from __future__ import annotations

import json
from collections import Counter

from traffic_guardian.home.counters import MonitorCounters
from traffic_guardian.home.guardian_home import GuardianHome


def test_counts_findings_uses_and_errors_then_writes_0600_json(tmp_path):
    counters = MonitorCounters(GuardianHome(tmp_path))
    counters.bump("requests", 3)
    counters.finding("high", written=True)
    counters.finding("high", written=False)
    counters.set_expected_uses(Counter({"openai": 2}))
    counters.write_error("OSError: [Errno 28] No space left on device")
    assert counters.flush() is True and counters.flush() is False  # unchanged: not rewritten
    path = tmp_path / "run" / "counters.json"
    data = json.loads(path.read_text())
    assert path.stat().st_mode & 0o777 == 0o600
    assert data["requests"] == 3 and data["findings_written"] == 1 and data["findings_suppressed"] == 1
    assert data["findings_by_severity"] == {"high": 1} and data["expected_credential_uses"] == {"openai": 2}
    assert data["write_errors"] == 1 and data["last_write_error"].startswith("OSError")
    assert data["updated_at"].endswith("Z")
