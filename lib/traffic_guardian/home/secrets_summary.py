"""The known-secrets summary in the home: what status and the posture profile may show of them.

The running monitor writes <home>/run/known-secrets.json whenever its set of watched
PicoClaw secrets is (re)built: count, owners, kinds, bound hosts and salted fingerprints,
never a value (detect/known_secrets.KnownSecretSet.summary). Scripts read it back.
"""

from __future__ import annotations

import json
from pathlib import Path

from traffic_guardian.detect.finding import utc_timestamp
from traffic_guardian.detect.known_secrets import KnownSecretSet
from traffic_guardian.home.guardian_home import GuardianHome

SUMMARY_FILE = "known-secrets.json"  # under <home>/run/, written by the monitor
SUMMARY_SCHEMA = "clawsec-traffic-known-secrets/v1"


def summary_path(home: GuardianHome) -> Path:
    return home.run_dir / SUMMARY_FILE


def write_summary(home: GuardianHome, known: KnownSecretSet) -> None:
    """Persist what status and the posture profile show (count, owners, fingerprints); never a value."""
    document = {"schema": SUMMARY_SCHEMA, "updated_at": utc_timestamp(), **known.summary()}
    home.write_atomic(summary_path(home), (json.dumps(document, separators=(",", ":")) + "\n").encode("utf-8"))


def read_summary(home: GuardianHome) -> dict | None:
    """The running monitor's known-secrets summary, or None when there is none."""
    try:
        with open(summary_path(home), encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and document.get("schema") == SUMMARY_SCHEMA else None
