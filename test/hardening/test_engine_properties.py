"""Property: whatever an Exchange holds, Engine.scan never raises, returns well-formed findings
within the caps, and no finding carries a planted secret in any form the canary knows.

Hypothesis drives every Exchange field (direction, dest, url, headers, body as bytes or
text, content type, body location) with arbitrary text and bytes, and plants fake secrets
raw, percent-encoded, base64-encoded or JSON-escaped at arbitrary places.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fakes
from canary import find_leaks
from traffic_guardian import FINDING_SCHEMA
from traffic_guardian.detect.engine import MAX_FINDINGS_PER_EXCHANGE, Engine
from traffic_guardian.detect.exchange import INBOUND, OUTBOUND, Exchange
from traffic_guardian.detect.finding import SEVERITIES
from traffic_guardian.detect.redact import Redactor

ENGINE = Engine(max_scan_bytes=4096, redactor=Redactor(b"k" * 32))
# Generated once per run (SystemRandom), then drawn by index so hypothesis can shrink.
SECRETS = [make() for make in (*fakes.ALL_KEY_GENERATORS.values(), fakes.aws_access_key_id,
                               fakes.github_token, fakes.github_fine_grained_token, fakes.slack_bot_token,
                               fakes.stripe_live_key, fakes.telegram_bot_token, fakes.discord_bot_token)]
ENCODINGS = {
    "raw": lambda s: s,
    "url": lambda s: quote(s, safe=""),
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "json": lambda s: json.dumps(s)[1:-1],
}
REQUIRED = {"schema_version", "platform", "direction", "protocol", "threat_type", "pattern", "variant",
            "severity", "source", "dest", "location", "snippet", "description", "flow_id", "encoding",
            "suppressed", "timestamp", "finding_id"}

texts = st.text(max_size=300)
content_types = st.sampled_from(["", "text/plain", "application/json", "application/x-www-form-urlencoded",
                                 "text/event-stream", "text/html; charset=utf-8", "application/octet-stream"])


@st.composite
def planted(draw, filler):
    """(text with a secret planted somewhere in some encoding, the secret)."""
    secret = SECRETS[draw(st.integers(0, len(SECRETS) - 1))]
    form = ENCODINGS[draw(st.sampled_from(sorted(ENCODINGS)))](secret)
    before, after = draw(filler), draw(filler)
    separator = draw(st.sampled_from(["", " ", "=", "\n", '"', "&key=", ": "]))
    return before + separator + form + separator + after, secret


@st.composite
def exchanges(draw):
    secret_texts: list[str] = []

    def maybe_planted(filler):
        if draw(st.booleans()):
            text, secret = draw(planted(filler))
            secret_texts.append(secret)
            return text
        return draw(filler)

    body_is_bytes = draw(st.booleans())
    if body_is_bytes:
        body = draw(st.binary(max_size=600))
        if draw(st.booleans()):
            text, secret = draw(planted(st.text(max_size=100)))
            secret_texts.append(secret)
            cut = draw(st.integers(0, len(body)))
            body = body[:cut] + text.encode("utf-8", "surrogatepass") + body[cut:]
    else:
        body = maybe_planted(texts)
    headers = draw(st.lists(st.tuples(st.text(min_size=1, max_size=30), st.just(None)), max_size=4))
    headers = [(name, maybe_planted(st.text(max_size=80))) for name, _ in headers]
    exchange = Exchange(
        direction=draw(st.sampled_from([OUTBOUND, INBOUND])),
        dest=draw(st.one_of(st.text(max_size=40), st.sampled_from(["api.openai.com:443", "[::1]:8080",
                                                                   "evil.example:80", ":", ""]))),
        source=draw(st.text(max_size=20)),
        protocol=draw(st.sampled_from(["http", "https", "websocket"])),
        method=draw(st.sampled_from(["GET", "POST", "", "\x00"])),
        url=maybe_planted(st.text(max_size=120)),
        headers=headers,
        body=body,
        content_type=draw(content_types),
        flow_id=draw(st.text(max_size=16)),
        body_location=draw(st.sampled_from(["", "websocket.message", "response.stream:text"])),
    )
    return exchange, secret_texts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(exchanges())
def test_engine_scan_never_raises_and_findings_are_well_formed_and_redacted(case):
    exchange, secrets = case
    findings = ENGINE.scan(exchange)
    assert len(findings) <= MAX_FINDINGS_PER_EXCHANGE
    for finding in findings:
        record = json.loads(finding.to_json())
        assert REQUIRED <= record.keys()
        assert record["schema_version"] == FINDING_SCHEMA
        assert record["direction"] == exchange.direction
        assert record["severity"] in SEVERITIES
        assert record["threat_type"] in ("EXFIL", "INJECTION", "POLICY")
        assert isinstance(record["snippet"], str) and len(record["snippet"]) < 4096
    outputs = [finding.to_json() for finding in findings]
    assert find_leaks(secrets, outputs=outputs) == []


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from([OUTBOUND, INBOUND]), content_types)
def test_engine_scan_takes_any_bytes(body, direction, content_type):
    findings = ENGINE.scan(Exchange(direction=direction, dest="x.example:443", body=body,
                                    content_type=content_type))
    assert all(finding.to_json() for finding in findings)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=2000))
def test_redact_text_never_raises_and_masks_planted_secrets(text):
    secret = SECRETS[len(text) % len(SECRETS)]
    assert find_leaks([secret], outputs=[ENGINE.redact_text(text + " " + secret + " " + text)]) == []
