"""Credential binding (SPEC.md section 5): a key is expected only in its provider's auth location
on its provider's host. The same key anywhere else is EXFIL; provider_hosts extends the hosts.
"""

from __future__ import annotations

import json

import pytest

import fakes
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import OUTBOUND, Exchange
from traffic_guardian.detect.providers import host_matches


def scan(engine: Engine, url: str, headers=(), body: str = "") -> list:
    host = url.split("/")[2]
    return engine.scan(Exchange(direction=OUTBOUND, dest=f"{host}:443", url=url, headers=list(headers), body=body))


# (provider, key factory, own URL, auth header name or None when the key rides in the URL, header value format)
BINDINGS = [
    ("openai", fakes.openai_project_key, "https://api.openai.com/v1/chat/completions", "Authorization", "Bearer {}"),
    ("anthropic", fakes.anthropic_key, "https://api.anthropic.com/v1/messages", "x-api-key", "{}"),
    ("google", fakes.google_key, "https://generativelanguage.googleapis.com/v1beta/models", "x-goog-api-key", "{}"),
    ("openrouter", fakes.openrouter_key, "https://openrouter.ai/api/v1/chat/completions", "Authorization",
     "Bearer {}"),
    ("openai-compatible", fakes.deepseek_key, "https://api.deepseek.com/chat/completions", "Authorization",
     "Bearer {}"),
    ("groq", fakes.groq_key, "https://api.groq.com/openai/v1/models", "Authorization", "Bearer {}"),
    ("github", fakes.github_token, "https://api.github.com/user", "Authorization", "token {}"),
    ("discord", fakes.discord_bot_token, "https://discord.com/api/v10/users/@me", "Authorization", "Bot {}"),
    ("stripe", fakes.stripe_live_key, "https://api.stripe.com/v1/charges", "Authorization", "Bearer {}"),
]


@pytest.mark.parametrize(("provider", "make", "url", "header", "form"), BINDINGS, ids=[b[0] for b in BINDINGS])
def test_key_in_its_auth_header_to_its_own_host_is_counted_not_reported(provider, make, url, header, form):
    engine = Engine()
    assert scan(engine, url, [(header, form.format(make()))]) == []
    assert engine.expected_uses == {provider: 1}


@pytest.mark.parametrize(("provider", "make", "url", "header", "form"), BINDINGS, ids=[b[0] for b in BINDINGS])
def test_same_key_to_another_host_is_exfil(provider, make, url, header, form):
    engine = Engine()
    findings = scan(engine, "https://collector.example/v1/chat/completions", [(header, form.format(make()))])
    assert [(f.threat_type, f.location) for f in findings] == [("EXFIL", f"request.header:{header.lower()}")]
    assert engine.expected_uses == {}


@pytest.mark.parametrize(("provider", "make", "url", "header", "form"), BINDINGS, ids=[b[0] for b in BINDINGS])
def test_same_key_in_a_body_to_its_own_host_is_exfil(provider, make, url, header, form):
    findings = scan(Engine(), url, body=json.dumps({"messages": [{"role": "user", "content": f"my key {make()}"}]}))
    assert [(f.threat_type, f.location) for f in findings] == [("EXFIL", "request.body")]


def test_same_key_in_another_header_to_its_own_host_is_exfil():
    findings = scan(Engine(), "https://api.openai.com/v1/files", [("X-Debug", fakes.openai_project_key())])
    assert [f.location for f in findings] == ["request.header:x-debug"]


def test_gemini_query_key_is_expected_only_at_google():
    key = fakes.google_key()
    engine = Engine()
    assert scan(engine, f"https://generativelanguage.googleapis.com/v1beta/models?key={key}") == []
    assert engine.expected_uses == {"google": 1}
    findings = scan(engine, f"https://collector.example/log?key={key}")
    assert [(f.pattern, f.location, f.provider) for f in findings] == [("ai_api_key", "request.url", "google")]


def test_telegram_token_in_the_bot_path_is_expected_only_at_api_telegram_org():
    token = fakes.telegram_bot_token()
    engine = Engine()
    assert scan(engine, f"https://api.telegram.org/bot{token}/getMe") == []
    assert engine.expected_uses == {"telegram": 1}
    assert [f.pattern for f in scan(engine, f"https://collector.example/bot{token}/getMe")] == ["telegram_bot_token"]
    assert [f.location for f in scan(engine, "https://api.telegram.org/x", body=token)] == ["request.body"]


def test_tavily_key_in_its_json_field_is_expected():
    key = fakes.tavily_key()
    engine = Engine()
    assert scan(engine, "https://api.tavily.com/search", body=json.dumps({"api_key": key, "query": "q"})) == []
    assert engine.expected_uses == {"tavily": 1}
    findings = scan(engine, "https://api.tavily.com/search", body=json.dumps({"query": key}))
    assert [f.variant for f in findings] == ["tavily"]


def test_jwt_in_an_auth_header_is_silent_anywhere_but_reported_in_a_body():
    token = fakes.jwt()
    engine = Engine()
    assert scan(engine, "https://app.example/api", [("Authorization", f"Bearer {token}")]) == []
    assert [f.pattern for f in scan(engine, "https://app.example/api", body=f"token={token}")] == ["jwt"]


def test_provider_hosts_config_extends_the_binding():
    key = fakes.deepseek_key()
    header = [("Authorization", f"Bearer {key}")]
    assert len(scan(Engine(), "https://llm.internal.example/v1/chat", header)) == 1
    engine = Engine(provider_hosts={"openai-compatible": ["llm.internal.example"]})
    assert scan(engine, "https://llm.internal.example/v1/chat", header) == []
    assert engine.expected_uses == {"openai-compatible": 1}
    assert len(scan(engine, "https://other.internal.example/v1/chat", header)) == 1


def test_provider_hosts_globs_match_subdomains_only_as_written():
    assert host_matches("eu.gw.example", ["*.gw.example"])
    assert not host_matches("gw.example.evil.test", ["*.gw.example"])
    assert host_matches("API.OpenAI.com.", ["api.openai.com"])
