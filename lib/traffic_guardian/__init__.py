"""picoclaw-traffic-guardian: one detection engine with thin front ends.

The flow of one request: addon (or scan.py) -> Exchange -> Engine -> rules -> redaction
-> Finding -> FindingWriter. Everything here is standard library only, so every script
except the live proxy runs on a plain Python 3.11+.
"""

VERSION = "0.1.0"
FINDING_SCHEMA = "clawsec-traffic-finding/v1"
PLATFORM = "picoclaw"
