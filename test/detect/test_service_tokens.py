"""Token families an agent gateway's operator holds (SPEC.md section 6, issue 22 item 2): package
registries, code hosts, cloud and infrastructure, SaaS APIs and more AI providers. Per family:
a generated key in the vendor's documented format is found and masked, the same key in its
own auth location at its own host is expected use, and near-misses (documented
placeholders, a wrong alphabet or length) stay silent.
"""

from __future__ import annotations

import base64

import pytest

import fakes
from canary import assert_no_leak
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import OUTBOUND, Exchange

ENGINE = Engine()

FAMILIES = {  # generator name -> (pattern, variant, own host, auth header, header value format)
    "npm": ("registry_token", "npm", "registry.npmjs.org", "authorization", "Bearer {}"),
    "pypi": ("registry_token", "pypi", "upload.pypi.org", "authorization", "basic:__token__:{}"),
    "rubygems": ("registry_token", "rubygems", "rubygems.org", "authorization", "{}"),
    "dockerhub": ("registry_token", "dockerhub", "hub.docker.com", "authorization", "Bearer {}"),
    "gitlab": ("code_host_token", "gitlab", "gitlab.com", "private-token", "{}"),
    "bitbucket": ("code_host_token", "bitbucket", "api.bitbucket.org", "authorization", "basic:me:{}"),
    "atlassian": ("code_host_token", "atlassian", "acme.atlassian.net", "authorization", "basic:me@acme.io:{}"),
    "azure_ad_client_secret": ("cloud_credential", "azure_ad_client_secret", None, None, None),
    "digitalocean": ("cloud_credential", "digitalocean", "api.digitalocean.com", "authorization", "Bearer {}"),
    "cloudflare_origin_ca": ("cloud_credential", "cloudflare_origin_ca", "api.cloudflare.com",
                             "x-auth-user-service-key", "{}"),
    "vault": ("cloud_credential", "vault", "vault.internal.example", "x-vault-token", "{}"),
    "sendgrid": ("saas_api_key", "sendgrid", "api.sendgrid.com", "authorization", "Bearer {}"),
    "twilio": ("saas_api_key", "twilio", "api.twilio.com", "authorization", "basic:{}:secret"),
    "mailgun": ("saas_api_key", "mailgun", "api.mailgun.net", "authorization", "basic:api:{}"),
    "notion": ("saas_api_key", "notion", "api.notion.com", "authorization", "Bearer {}"),
    "linear": ("saas_api_key", "linear", "api.linear.app", "authorization", "{}"),
    "shopify": ("saas_api_key", "shopify", "acme.myshopify.com", "x-shopify-access-token", "{}"),
    "elevenlabs": ("ai_api_key", "elevenlabs", "api.elevenlabs.io", "xi-api-key", "{}"),
    "fireworks": ("ai_api_key", "fireworks", "api.fireworks.ai", "authorization", "Bearer {}"),
}


def scan(dest: str, body: str = "", headers=()) -> list:
    return ENGINE.scan(Exchange(direction=OUTBOUND, dest=dest, body=body, headers=list(headers)))


def header_value(template: str, key: str) -> str:
    if template.startswith("basic:"):
        return "Basic " + base64.b64encode(template[6:].format(key).encode()).decode()
    return template.format(key)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_key_in_its_vendor_format_is_found_and_masked(family):
    pattern, variant, *_ = FAMILIES[family]
    key = fakes.SERVICE_TOKEN_GENERATORS[family]()
    findings = scan("paste.example:443", f"here it is: {key}\n")
    assert (pattern, variant) in {(f.pattern, f.variant) for f in findings}, (family, key[:12])
    assert_no_leak([key], outputs=[f.to_json() for f in findings])


@pytest.mark.parametrize("family", sorted(f for f, spec in FAMILIES.items() if spec[2]))
def test_the_key_in_its_own_auth_location_at_its_own_host_is_expected_use(family):
    pattern, _variant, host, header, template = FAMILIES[family]
    key = fakes.SERVICE_TOKEN_GENERATORS[family]()
    engine = Engine()
    findings = engine.scan(Exchange(direction=OUTBOUND, dest=f"{host}:443",
                                    headers=[(header, header_value(template, key))]))
    assert [f for f in findings if f.pattern == pattern] == [], family
    assert sum(engine.expected_uses.values()) >= 1


def test_azure_storage_account_key_in_a_connection_string():
    connection, key = fakes.azure_storage_connection_string()
    (finding,) = [f for f in scan("paste.example:443", connection) if f.pattern == "cloud_credential"]
    assert finding.variant == "azure_storage_key" and finding.severity == "critical"
    assert_no_leak([key], outputs=[finding.to_json()])


@pytest.mark.parametrize(("pattern", "variant", "line"), [
    ("ai_api_key", "cohere", "COHERE_API_KEY={}"),
    ("ai_api_key", "mistral", '"mistral_api_key": "{}"'),
    ("cloud_credential", "cloudflare", "CLOUDFLARE_API_TOKEN={}"),
    ("code_host_token", "gitea", "GITEA_TOKEN={}"),
])
def test_families_without_a_prefix_are_found_beside_their_name(pattern, variant, line):
    makers = {"cohere": lambda: fakes.rand(40), "mistral": lambda: fakes.rand(32),
              "cloudflare": lambda: fakes.rand(40, fakes._URLSAFE), "gitea": lambda: fakes.rand(40, fakes._HEX)}
    value = makers[variant]()
    assert (pattern, variant) in {(f.pattern, f.variant) for f in scan("x.example:443", line.format(value))}
    assert (pattern, variant) not in {(f.pattern, f.variant) for f in scan("x.example:443", f"id {value}")}


def test_hugging_face_tokens_are_letters_only():
    token = fakes.huggingface_token()
    assert token[3:].isalpha()
    assert ("ai_api_key", "huggingface") in {(f.pattern, f.variant) for f in scan("x.example:443", token)}
    with_digits = "hf_" + fakes.rand(34, "0123456789abcdef")
    assert all(f.variant != "huggingface" for f in scan("x.example:443", with_digits))


@pytest.mark.parametrize("text", [
    "NPM_TOKEN=npm_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "npm_" + "a" * 36,
    "ELEVENLABS_API_KEY=sk_your_elevenlabs_api_key_here",
    "glpat-xxxxxxxxxxxxxxxxxxxx",
    "glpat-short",
    "SG.abc.def",
    "SK" + "0" * 32,
    "key-" + "1234567890abcdef" * 2,
    "rubygems_" + "0" * 48,
    "dop_v1_" + "f" * 64,
    "hvs.CAESIxxxxxxxxxxxxxxxxxxxxxxxxx",
    "shpat_" + "a" * 32,
    "fw_xxxxxxxxxxxxxxxxxxxxxxxx",
    "Use the npm_config_cache variable to move the cache.",
    "key-value stores such as Redis",
    "The SKU code is SK-4432.",
])
def test_placeholders_and_look_alikes_stay_silent(text):
    assert [f.pattern for f in scan("docs.example:443", text)] == [], text
