"""Findings an operator would want (SPEC.md sections 5 and 6, issue 22 item 6): documented
placeholders are not secrets; naming a sensitive file in a chat to the operator's own LLM
provider is info; the file's contents stay high wherever they go. Placeholders are the
shapes vendor docs, READMEs and PicoClaw's own example config use; values are generated.
"""

from __future__ import annotations

import json

import pytest

import fakes
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import OUTBOUND, Exchange

ENGINE = Engine(provider_hosts={"openai-compatible": ["llm.internal.example"]})


def outbound(body: str, dest: str = "collector.example:443") -> list:
    return ENGINE.scan(Exchange(direction=OUTBOUND, dest=dest, body=body))


PLACEHOLDERS = [
    "OPENAI_API_KEY=sk-your-openai-key",
    "export ANTHROPIC_API_KEY=sk-ant-api03-YOUR_KEY_HERE",
    "OPENROUTER_API_KEY=sk-or-v1-your-api-key-here",
    "OPENROUTER_API_KEY=sk-or-v1-abc123def456ghi789jkl...",
    "OPENAI_API_KEY=sk-proj-...",
    "TELEGRAM_BOT_TOKEN=YOUR_TELEGRAM_BOT_TOKEN",  # PicoClaw's example config
    "SLACK_BOT_TOKEN=xoxb-YOUR-BOT-TOKEN",
    "SLACK_APP_TOKEN=xapp-YOUR-APP-TOKEN",
    "BRAVE_API_KEY=YOUR_BRAVE_API_KEY",
    "DINGTALK_CLIENT_SECRET=YOUR_CLIENT_SECRET",
    "GITHUB_TOKEN=<your-github-token>",
    "API_KEY=${API_KEY}",
    "DEEPSEEK_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "SECRET_KEY=changeme-please-1234",
    "GROQ_API_KEY=gsk_your_groq_api_key_here",
    "HF_TOKEN=hf_xxx",
]


@pytest.mark.parametrize("line", PLACEHOLDERS)
def test_documented_placeholders_are_not_secrets(line):
    assert outbound(line + "\n") == [], line


@pytest.mark.parametrize("line", [
    f"DB_PASSWORD={fakes.rand(16)}",
    f"OPENROUTER_API_KEY={fakes.openrouter_key()}",
    f"SECRET_KEY={fakes.rand(40)}",
    f"GROQ_API_KEY={fakes.groq_key()}",
])
def test_real_looking_values_beside_them_are_still_found(line):
    assert outbound(line + "\n"), line


MENTIONS = [
    ("ssh_key_file", "what does ~/.ssh/id_ed25519 do, and should I back it up?"),
    ("dotenv_file", "my ~/.aws/credentials file has two profiles; how do I switch?"),
    ("dotenv_file", "why is .env.local ignored by git in my project?"),
    ("unix_sensitive", "explain the format of /etc/shadow to me"),
    ("picoclaw_secret_file", "where does PicoClaw keep ~/.picoclaw/.security.yml?"),
]
LLM_DESTS = ["api.openai.com:443", "api.anthropic.com:443", "openrouter.ai:443", "llm.internal.example:443"]


@pytest.mark.parametrize("dest", LLM_DESTS)
@pytest.mark.parametrize(("pattern", "question"), MENTIONS, ids=[m[1][:30] for m in MENTIONS])
def test_naming_a_sensitive_file_to_the_operators_own_llm_is_info(dest, pattern, question):
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": question}]})
    found = [f for f in outbound(body, dest) if f.pattern == pattern]
    assert found and {f.severity for f in found} == {"info"}, (dest, question)


@pytest.mark.parametrize(("pattern", "question"), MENTIONS, ids=[m[1][:30] for m in MENTIONS])
def test_the_same_mention_to_anywhere_else_keeps_its_severity(pattern, question):
    body = json.dumps({"messages": [{"role": "user", "content": question}]})
    found = [f for f in outbound(body, "paste.example:443") if f.pattern == pattern]
    assert found and all(f.severity in ("low", "medium", "high") for f in found)


def test_the_mention_in_a_url_to_an_llm_host_is_not_talk():
    found = ENGINE.scan(Exchange(direction=OUTBOUND, dest="api.openai.com:443", url="https://api.openai.com/x?f=~/.ssh/id_rsa"))
    assert found and all(f.severity != "info" for f in found if f.pattern == "ssh_key_file")


@pytest.mark.parametrize("dest", LLM_DESTS)
def test_file_contents_stay_high_to_the_llm_too(dest):
    key = fakes.pem_private_key()
    shadow = "root:$6$" + fakes.rand(16) + "$" + fakes.rand(86) + ":19000:0:99999:7:::"
    body = json.dumps({"messages": [{"role": "user", "content": f"{key}\n{shadow}\nDB_PASSWORD={fakes.rand(16)}"}]})
    severities = {f.pattern: f.severity for f in outbound(body, dest)}
    assert severities["private_key_pem"] == "critical"
    assert severities["unix_sensitive"] in ("high", "critical")
    assert severities["dotenv_file"] == "high"
