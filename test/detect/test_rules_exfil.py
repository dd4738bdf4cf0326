"""Outbound EXFIL rules (SPEC.md section 6): each pattern id and variant, positives beside near-misses.

Every case is a request body sent to a host that is no provider's (collector.example), so
credential binding never hides a match here; test_providers.py covers binding. Secret-shaped
values come from fakes.py at test time.
"""

from __future__ import annotations

import base64
import json
import string
from urllib.parse import quote

import pytest

import fakes
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import OUTBOUND, Exchange
from traffic_guardian.detect.rules import RULESET

FOREIGN = "collector.example:443"


def detect(text: str, *, dest: str = FOREIGN, headers=(), url: str = "") -> set[tuple[str, str]]:
    exchange = Exchange(direction=OUTBOUND, dest=dest, url=url, headers=list(headers), body=text)
    return {(f.pattern, f.variant) for f in Engine().scan(exchange)}


def pem(label: str) -> str:
    return fakes.pem_private_key(label)


def aws_example_key_id() -> str:
    # The key id AWS prints in its documentation, assembled so no key-shaped literal is committed.
    return "AKIA" + "IOSFODNN7" + "EXAMPLE"


def kube_key_data() -> str:
    return base64.b64encode(pem("RSA PRIVATE KEY").encode()).decode()


def docker_auth() -> str:
    token = base64.b64encode(f"robot:{fakes.rand(24)}".encode()).decode()
    return json.dumps({"auths": {"registry.example.com": {"auth": token}}})


def shadow_line(user: str = "alice") -> str:
    return f"{user}:$6${fakes.rand(8)}${fakes.rand(86, string.ascii_letters + string.digits + './')}:19000:0:99999:7:::"


# (rule id "pattern.variant", text factory). Each variant has several real shapes.
POSITIVES: list[tuple[str, object]] = [
    *[(f"ai_api_key.{variant}", lambda g=generator: f'{{"api_key": "{g()}"}}')
      for variant, generator in fakes.ALL_KEY_GENERATORS.items()],
    *[(f"ai_api_key.{variant}", lambda g=generator: f"export LLM_KEY={g()} # copied from settings")
      for variant, generator in fakes.ALL_KEY_GENERATORS.items()],
    ("ai_api_key.openai_compatible", lambda: "sk-" + fakes.rand(48)),
    ("ai_api_key.anthropic", lambda: "sk-ant-admin01-" + fakes.rand(93) + "AA"),
    ("ai_api_key.tavily", lambda: "tvly-" + fakes.rand(32)),
    ("aws_access_key.access_key_id", lambda: f"id={fakes.aws_access_key_id()}"),
    ("aws_access_key.access_key_id", lambda: "ASIA" + fakes.rand(16, string.ascii_uppercase + "234567")),
    ("aws_access_key.secret_access_key", lambda: f"aws_secret_access_key = {fakes.aws_secret_access_key()}"),
    ("aws_access_key.secret_access_key", lambda: json.dumps({"SecretAccessKey": fakes.aws_secret_access_key()})),
    ("aws_access_key.secret_access_key", lambda: f"AWS_SECRET_ACCESS_KEY='{fakes.aws_secret_access_key()}'"),
    ("private_key_pem.pkcs8", lambda: pem("PRIVATE KEY")),
    ("private_key_pem.pkcs8", lambda: json.dumps({"content": pem("PRIVATE KEY")})),
    ("private_key_pem.encrypted_pkcs8", lambda: pem("ENCRYPTED PRIVATE KEY")),
    ("private_key_pem.rsa", lambda: pem("RSA PRIVATE KEY")),
    ("private_key_pem.rsa", lambda: "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
                                    "DEK-Info: AES-128-CBC,0A1B2C3D\n\n" + fakes.rand(64) + "\n"),
    ("private_key_pem.ec", lambda: pem("EC PRIVATE KEY")),
    ("private_key_pem.dsa", lambda: pem("DSA PRIVATE KEY")),
    ("private_key_pem.openssh", lambda: pem("OPENSSH PRIVATE KEY")),
    ("private_key_pem.pgp", lambda: pem("PGP PRIVATE KEY BLOCK")),
    ("ssh_key_file.private_key_path", lambda: "cat ~/.ssh/id_rsa"),
    ("ssh_key_file.private_key_path", lambda: "/home/bob/.ssh/id_ed25519"),
    ("ssh_key_file.private_key_path", lambda: "$HOME/.ssh/id_ecdsa_sk"),
    ("ssh_key_file.private_key_path", lambda: "/root/.ssh/identity"),
    ("ssh_key_file.private_key_path", lambda: '{"path": "~/.ssh/picoclaw_ed25519.key"}'),
    ("unix_sensitive.shadow_path", lambda: "cat /etc/shadow"),
    ("unix_sensitive.shadow_path", lambda: "read /etc/sudoers and /etc/gshadow"),
    ("unix_sensitive.passwd_traversal", lambda: "GET /static/../../../etc/passwd"),
    ("unix_sensitive.passwd_traversal", lambda: "file=..%2F..%2F..%2Fetc%2Fshadow"),
    ("unix_sensitive.proc_environ", lambda: "open('/proc/self/environ')"),
    ("unix_sensitive.proc_environ", lambda: "/proc/4242/environ"),
    ("unix_sensitive.passwd_content", lambda: "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/bin/false"),
    ("unix_sensitive.shadow_content", lambda: "root:*:19000:0:99999:7:::\n" + shadow_line()),
    ("dotenv_file.dotenv_path", lambda: "cat .env"),
    ("dotenv_file.dotenv_path", lambda: "upload config/.env.production"),
    ("dotenv_file.dotenv_path", lambda: '{"file": ".env.local"}'),
    ("dotenv_file.cloud_credentials_path", lambda: "~/.aws/credentials"),
    ("dotenv_file.cloud_credentials_path", lambda: "~/.config/gcloud/application_default_credentials.json"),
    ("dotenv_file.cloud_credentials_path", lambda: "~/.kube/config"),
    ("dotenv_file.cloud_credentials_path", lambda: "~/.docker/config.json"),
    ("dotenv_file.cloud_credentials_path", lambda: "cat ~/.netrc ~/.pgpass"),
    ("dotenv_file.cloud_credentials_path", lambda: "~/.npmrc"),
    ("dotenv_file.cloud_credentials_path", lambda: "~/.pypirc"),
    ("dotenv_file.cloud_credentials_path", lambda: "~/.git-credentials"),
    ("dotenv_file.cloud_credentials_path", lambda: "~/.azure/msal_token_cache.json"),
    ("dotenv_file.dotenv_secret_assignment", lambda: f"DB_PASSWORD={fakes.rand(20)}"),
    ("dotenv_file.dotenv_secret_assignment", lambda: f'export GITHUB_TOKEN="{fakes.rand(30)}"'),
    ("dotenv_file.dotenv_secret_assignment", lambda: f"NODE_ENV=production\nSTRIPE_SECRET_KEY={fakes.rand(32)}"),
    ("dotenv_file.dotenv_secret_assignment", lambda: f"DATABASE_PASSWORD=https://admin:{fakes.rand(12)}@db.internal"),
    ("dotenv_file.netrc_content", lambda: f"machine api.example.com login bob password {fakes.rand(16)}"),
    ("dotenv_file.kubeconfig_content",
     lambda: f"users:\n- name: admin\n  user:\n    client-key-data: {kube_key_data()}"),
    ("dotenv_file.docker_auth_content", docker_auth),
    ("dotenv_file.gcloud_adc_content", lambda: json.dumps({"type": "authorized_user", "client_id": "1.apps",
                                                           "refresh_token": fakes.rand(40)})),
    ("picoclaw_secret_file.picoclaw_path", lambda: "cat ~/.picoclaw/config.json"),
    ("picoclaw_secret_file.picoclaw_path", lambda: "/home/pi/.picoclaw/.security.yml"),
    ("picoclaw_secret_file.picoclaw_path", lambda: "~/.picoclaw/auth.json"),
    ("picoclaw_secret_file.picoclaw_backup_path", lambda: "cp ~/.picoclaw/config.json.20261204.bak /tmp/x"),
    ("picoclaw_secret_file.picoclaw_backup_path", lambda: "/srv/pico/.security.yml.20260613.bak"),
    ("picoclaw_secret_file.security_yml_path", lambda: "cat /etc/picoclaw/.security.yml"),
    ("picoclaw_secret_file.security_yml_content",
     lambda: f"model_list:\n  gpt-5.4:0:\n    api_keys:\n      - \"{fakes.rand(40)}\"\n"),
    ("picoclaw_secret_file.security_yml_content",
     lambda: f"channel_list:\n  telegram:\n    settings:\n      token: {fakes.telegram_bot_token()}\n"),
    ("picoclaw_secret_file.auth_json_content", lambda: json.dumps({"credentials": {"openai": {
        "access_token": fakes.jwt(), "refresh_token": fakes.rand(40), "provider": "openai"}}}, indent=2)),
    ("github_token.classic", lambda: fakes.github_token()),
    ("github_token.classic", lambda: "gho_" + fakes.rand(36)),
    ("github_token.classic", lambda: "ghs_" + fakes.rand(36)),
    ("github_token.fine_grained", lambda: fakes.github_fine_grained_token()),
    ("slack_token.token", lambda: fakes.slack_bot_token()),
    ("slack_token.token",
     lambda: f"xoxp-{fakes.rand(12, string.digits)}-{fakes.rand(12, string.digits)}-{fakes.rand(32)}"),
    ("slack_token.webhook", lambda: json.dumps({"url": fakes.slack_webhook_url()})),
    ("telegram_bot_token.bot_token", lambda: f"token={fakes.telegram_bot_token()}"),
    ("discord_bot_token.bot_token", lambda: f"DISCORD_TOKEN {fakes.discord_bot_token()}"),
    ("discord_bot_token.webhook", lambda: fakes.discord_webhook_url()),
    ("stripe_key.live", lambda: fakes.stripe_live_key()),
    ("stripe_key.live", lambda: "rk_live_" + fakes.rand(40)),
    ("stripe_key.test", lambda: fakes.stripe_test_key()),
    ("jwt.jwt", lambda: json.dumps({"session": fakes.jwt()})),
    ("gcp_service_account.key_file", lambda: json.dumps({"type": "service_account", "project_id": "demo",
                                                         "private_key": pem("PRIVATE KEY")})),
    # registries, code hosts, cloud, SaaS, more AI (rules/service_tokens.py; test_service_tokens.py has the rest)
    *[(f"{pattern}.{family}", lambda g=fakes.SERVICE_TOKEN_GENERATORS[family]: f"token: {g()}")
      for pattern, family in (
          ("registry_token", "npm"), ("registry_token", "pypi"), ("registry_token", "rubygems"),
          ("registry_token", "dockerhub"), ("code_host_token", "gitlab"), ("code_host_token", "bitbucket"),
          ("code_host_token", "atlassian"), ("cloud_credential", "azure_ad_client_secret"),
          ("cloud_credential", "digitalocean"), ("cloud_credential", "cloudflare_origin_ca"),
          ("cloud_credential", "vault"), ("saas_api_key", "sendgrid"), ("saas_api_key", "twilio"),
          ("saas_api_key", "mailgun"), ("saas_api_key", "notion"), ("saas_api_key", "linear"),
          ("saas_api_key", "shopify"), ("ai_api_key", "elevenlabs"), ("ai_api_key", "fireworks"))],
    ("cloud_credential.azure_storage_key", lambda: fakes.azure_storage_connection_string()[0]),
    ("cloud_credential.cloudflare", lambda: f"CLOUDFLARE_API_TOKEN={fakes.rand(40, fakes._URLSAFE)}"),
    ("code_host_token.gitea", lambda: f"GITEA_TOKEN={fakes.rand(40, fakes._HEX)}"),
    ("ai_api_key.cohere", lambda: f"COHERE_API_KEY={fakes.rand(40)}"),
    ("ai_api_key.mistral", lambda: f"MISTRAL_API_KEY={fakes.rand(32)}"),
]

# (pattern that must stay silent, text factory, why)
NEAR_MISSES: list[tuple[str, object, str]] = [
    ("registry_token", lambda: "NPM_TOKEN=npm_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "placeholder"),
    ("code_host_token", lambda: "glpat-xxxxxxxxxxxxxxxxxxxx", "placeholder"),
    ("cloud_credential", lambda: "dop_v1_" + "f" * 64, "no entropy"),
    ("saas_api_key", lambda: "key-value stores such as Redis", "a word, not a key"),
    ("ai_api_key", lambda: "sk-your-key-here", "placeholder"),
    ("ai_api_key", lambda: "sk-proj-YOUR_API_KEY_HERE", "placeholder"),
    ("ai_api_key", lambda: "sk-proj-" + "x" * 64, "placeholder of the right length"),
    ("ai_api_key", lambda: "sk-" + "a" * 48, "no digits, no entropy"),
    ("ai_api_key", lambda: "sk-thisisnotakeyjustaverylongwordwithoutdigits", "a word, not a key"),
    ("ai_api_key", lambda: "ask-" + fakes.rand(48), "glued to a preceding word"),
    ("ai_api_key", lambda: "AIza" + fakes.rand(20), "too short for a Google key"),
    ("ai_api_key", lambda: "AIzaSy" + "X" * 33, "Google placeholder"),
    ("ai_api_key", lambda: "hf_" + "x" * 34, "Hugging Face placeholder"),
    ("ai_api_key", lambda: "sk-or-v1-" + "z" * 64, "OpenRouter shape with non-hex"),
    ("ai_api_key", lambda: "gsk_" + fakes.rand(30), "too short for Groq"),
    ("ai_api_key", lambda: "risk-management-" + fakes.rand(40), "prose compound word"),
    ("aws_access_key", aws_example_key_id, "AWS documentation example key id"),
    ("aws_access_key", lambda: "akia" + fakes.rand(16).lower(), "lowercase is not a key id"),
    ("aws_access_key", lambda: fakes.aws_secret_access_key(), "40 chars without a field name"),
    ("aws_access_key", lambda: "aws_secret_access_key = " + "x" * 40, "placeholder secret"),
    ("private_key_pem", lambda: "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIB\n", "public key"),
    ("private_key_pem", lambda: "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n", "certificate"),
    ("private_key_pem", lambda: "A PEM private key starts with BEGIN PRIVATE KEY between dashes.", "prose"),
    ("ssh_key_file", lambda: "~/.ssh/id_ed25519.pub", "public key path"),
    ("ssh_key_file", lambda: "~/.ssh/picoclaw_ed25519.key.pub", "public key path"),
    ("ssh_key_file", lambda: "~/.ssh/known_hosts and ~/.ssh/config", "not a private key"),
    ("unix_sensitive", lambda: "/etc/passwd is world-readable", "plain passwd path"),
    ("unix_sensitive", lambda: "/etc/shadow-utils.conf", "another file"),
    ("unix_sensitive", lambda: "../etc/hosts", "traversal to a harmless file"),
    ("unix_sensitive", lambda: "/proc/self/status", "not environ"),
    ("unix_sensitive", lambda: "the line root:x:0:0:root:/root:/bin/bash is the root entry", "mid-line prose"),
    ("unix_sensitive", lambda: "root:*:19000:0:99999:7:::", "locked account, no hash"),
    ("dotenv_file", lambda: ".env.example and .env.sample", "templates"),
    ("dotenv_file", lambda: ".envrc", "direnv file"),
    ("dotenv_file", lambda: "the environment variable", "prose"),
    ("dotenv_file", lambda: "~/.aws/config.example", "template"),
    ("dotenv_file", lambda: "~/.kube/config-dev.yaml.md", "another file"),
    ("dotenv_file", lambda: "OPENAI_API_KEY=your-key-here", "placeholder"),
    ("dotenv_file", lambda: "OPENAI_API_KEY=${OPENAI_API_KEY}", "reference"),
    ("dotenv_file", lambda: "API_KEY=changeme12345", "placeholder"),
    ("dotenv_file", lambda: "AUTH_TOKEN_URL=https://auth.example.com/oauth/token", "a URL, not a secret"),
    ("dotenv_file", lambda: "API_KEY_FILE=/run/secrets/api_key", "a path, not a secret"),
    ("dotenv_file", lambda: "api_key=abcdefghijklmnop", "not dotenv style"),
    ("dotenv_file", lambda: "machine learning login page password reset", "prose, not netrc"),
    ("dotenv_file", lambda: "client-key-data: REDACTED", "redacted kubeconfig"),
    ("dotenv_file", lambda: json.dumps({"auths": {"ghcr.io": {}}, "credsStore": "desktop"}), "credential helper"),
    ("dotenv_file", lambda: json.dumps({"type": "user"}), "not ADC"),
    ("picoclaw_secret_file", lambda: "~/.picoclaw/workspace/config.json", "workspace file"),
    ("picoclaw_secret_file", lambda: "~/.picoclaw/config.json.example", "template"),
    ("picoclaw_secret_file", lambda: "config.json.bak", "an undated backup of any config"),
    ("picoclaw_secret_file", lambda: "my.security.yml.tmpl", "another file"),
    ("picoclaw_secret_file", lambda: "model_list:\n  - gpt-5.4\n  - claude\n", "a list of model names"),
    ("picoclaw_secret_file", lambda: json.dumps({"credentials": {"aws": {"access_token": "x"}}}), "another tool"),
    ("github_token", lambda: "ghp_" + "x" * 36, "placeholder"),
    ("github_token", lambda: "ghp_" + fakes.rand(30), "too short"),
    ("github_token", lambda: "ghx_" + fakes.rand(36), "unknown prefix"),
    ("slack_token", lambda: "xoxb-your-token", "placeholder"),
    ("slack_token", lambda: "https://hooks.slack.com/services/...", "elided webhook"),
    ("telegram_bot_token", lambda: f"{fakes.rand(5, string.digits)}:AA{fakes.rand(33)}", "id too short"),
    ("discord_bot_token", lambda: f"M{fakes.rand(25)}.{fakes.rand(6)}.{fakes.rand(30)}", "first part is not an id"),
    ("stripe_key", lambda: "pk_live_" + fakes.rand(40), "publishable key is public"),
    ("stripe_key", lambda: "sk_live_" + "0" * 24, "placeholder"),
    ("jwt", lambda: "eyJhbGciOiJIUzI1NiJ9", "a JWT header alone"),
    ("gcp_service_account", lambda: json.dumps({"type": "service_account_user"}), "another type"),
]


def _case_id(rule_id: str, index: int) -> str:
    return f"{rule_id}-{index}"


@pytest.mark.parametrize(("rule_id", "make"), POSITIVES,
                         ids=[_case_id(rule_id, i) for i, (rule_id, _) in enumerate(POSITIVES)])
def test_positive_variant_is_detected(rule_id, make):
    pattern, variant = rule_id.split(".")
    assert (pattern, variant) in detect(make())


@pytest.mark.parametrize(("pattern", "make", "why"), NEAR_MISSES,
                         ids=[f"{pattern}-{i}" for i, (pattern, _, _) in enumerate(NEAR_MISSES)])
def test_near_miss_stays_silent(pattern, make, why):
    found = detect(make())
    assert not {p for p, _ in found if p == pattern}, f"{why}: {found}"


def test_every_exfil_variant_has_a_positive_and_every_pattern_a_near_miss():
    exfil = {rule.rule_id for rule in RULESET if rule.threat_type == "EXFIL"}
    assert exfil - {rule_id for rule_id, _ in POSITIVES} == set()
    assert {rule_id.split(".")[0] for rule_id in exfil} - {p for p, _, _ in NEAR_MISSES} == set()


def test_exfil_rules_do_not_run_on_inbound_text():
    body = f"here is a key {fakes.openai_project_key()} and ~/.ssh/id_rsa"
    findings = Engine().scan(Exchange(direction="inbound", dest=FOREIGN, body=body))
    assert [f for f in findings if f.threat_type == "EXFIL"] == []


def test_legacy_openai_key_is_one_finding_not_two():
    assert {v for p, v in detect(fakes.openai_legacy_key()) if p == "ai_api_key"} == {"openai_legacy"}


@pytest.mark.parametrize("variant", sorted(fakes.ALL_KEY_GENERATORS))
def test_key_is_attributed_to_its_provider(variant):
    key = fakes.ALL_KEY_GENERATORS[variant]()
    findings = Engine().scan(Exchange(direction=OUTBOUND, dest=FOREIGN, body=f"k={key}"))
    rule = next(r for r in RULESET if r.rule_id == f"ai_api_key.{variant}")
    assert [f.provider for f in findings if f.variant == variant] == [rule.provider]


@pytest.mark.parametrize(("encode", "encoding"), [
    (lambda s: quote(s, safe=""), "url"),
    (lambda s: quote(quote(s, safe=""), safe=""), "url"),
    (lambda s: json.dumps({"text": s}).replace("/", "\\u002f").replace("-", "\\u002d"), "json"),
    (lambda s: base64.b64encode(s.encode()).decode(), "base64"),
    (lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="), "base64"),
])
def test_encoded_secret_is_found_in_its_decoded_view(encode, encoding):
    key = fakes.anthropic_key()
    findings = Engine().scan(Exchange(direction=OUTBOUND, dest=FOREIGN, body=encode(f"key: {key} end")))
    assert any(f.variant == "anthropic" and f.encoding == encoding for f in findings), findings


@pytest.mark.parametrize("location", ["url", "header", "body"])
def test_secret_is_found_in_every_outbound_part(location):
    key = fakes.groq_key()
    url, headers, body = "https://collector.example/upload", [], ""
    if location == "url":
        url += f"?k={key}"
    elif location == "header":
        headers = [("X-Debug", key)]
    else:
        body = key
    findings = Engine().scan(Exchange(direction=OUTBOUND, dest=FOREIGN, url=url, headers=headers, body=body))
    assert {f.location for f in findings} == {
        "url": {"request.url"}, "header": {"request.header:x-debug"}, "body": {"request.body"}}[location]
