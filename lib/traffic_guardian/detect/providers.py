"""Credential binding: where each provider's key is expected to go, and how.

A provider key in its normal auth location, sent to the provider's own host, is the
gateway doing its job: counted as expected use, not reported. The same key anywhere else
(another host, a request body, a query string to a foreign host) is exfiltration. This
table is what makes the monitor quiet on a normal LLM API call.

Auth locations:
  header:<name>      the key is (inside) that request header
  query:<name>       the key is the value of that query parameter
  path:<prefix>      the key follows <prefix> in the URL path (Telegram's /bot<token>/)
  url                anywhere in the URL (webhook URLs are their own credential)
  body_json:<field>  a field (dotted path) of a JSON request body or websocket message (Tavily's
                     api_key, Discord's IDENTIFY d.token), the value alone or after a scheme word
                     ("Bot <token>")
  body_form:<field>  a field of a form-encoded request body (VK's access_token)
  any                anywhere in a request to a bound host (protocols we cannot pin down)
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

ANYWHERE = "any"


@dataclass(frozen=True)
class Binding:
    """Where a secret is expected: hosts (globs) and auth locations there (the vocabulary above)."""

    hosts: tuple[str, ...] = ()
    auth: tuple[str, ...] = ()


UNBOUND = Binding()


@dataclass(frozen=True)
class Provider:
    name: str
    hosts: tuple[str, ...]  # host names or globs (*.example.com)
    auth: tuple[str, ...]


_BEARER = ("header:authorization",)

PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider("openai", ("api.openai.com", "*.openai.azure.com"), (*_BEARER, "header:api-key")),
        Provider("anthropic", ("api.anthropic.com",), ("header:x-api-key", *_BEARER)),
        Provider("openrouter", ("openrouter.ai",), _BEARER),
        Provider("google", ("generativelanguage.googleapis.com", "*.googleapis.com"),
                 ("header:x-goog-api-key", "query:key", *_BEARER)),
        Provider("groq", ("api.groq.com",), _BEARER),
        Provider("xai", ("api.x.ai",), _BEARER),
        Provider("perplexity", ("api.perplexity.ai",), _BEARER),
        Provider("huggingface", ("huggingface.co", "*.huggingface.co", "*.hf.space"), _BEARER),
        Provider("tavily", ("api.tavily.com",), (*_BEARER, "body_json:api_key")),
        Provider("replicate", ("api.replicate.com",), _BEARER),
        Provider("openai-compatible", (
            "api.openai.com", "api.deepseek.com", "api.moonshot.cn", "api.moonshot.ai", "dashscope.aliyuncs.com",
            "dashscope-intl.aliyuncs.com", "api.siliconflow.cn", "api.siliconflow.com", "open.bigmodel.cn",
            "api.mistral.ai", "api.together.xyz", "api.fireworks.ai", "api.cerebras.ai", "api.novita.ai",
        ), (*_BEARER, "header:api-key")),
        Provider("aws", ("*.amazonaws.com", "amazonaws.com"), (*_BEARER, "query:x-amz-credential")),
        Provider("github", ("github.com", "api.github.com", "uploads.github.com", "*.githubusercontent.com"),
                 _BEARER),
        Provider("slack", ("slack.com", "*.slack.com"), (*_BEARER, "url")),
        Provider("telegram", ("api.telegram.org",), ("path:/bot", "path:/file/bot")),
        Provider("discord", ("discord.com", "discordapp.com", "*.discord.com", "gateway.discord.gg"),
                 (*_BEARER, "url")),
        Provider("stripe", ("api.stripe.com", "files.stripe.com"), _BEARER),
        Provider("npm", ("registry.npmjs.org", "*.npmjs.org", "*.npmjs.com"), _BEARER),
        Provider("pypi", ("upload.pypi.org", "test.pypi.org", "pypi.org"), _BEARER),
        Provider("rubygems", ("rubygems.org", "*.rubygems.org"), _BEARER),
        Provider("dockerhub", ("hub.docker.com", "auth.docker.io", "registry-1.docker.io", "*.docker.com",
                               "*.docker.io"), _BEARER),
        Provider("gitlab", ("gitlab.com", "*.gitlab.com"), (*_BEARER, "header:private-token", "header:job-token",
                                                            "header:deploy-token")),
        Provider("bitbucket", ("bitbucket.org", "api.bitbucket.org", "*.bitbucket.org"), _BEARER),
        Provider("atlassian", ("*.atlassian.net", "api.atlassian.com", "bitbucket.org", "api.bitbucket.org",
                               "*.jira.com"), _BEARER),
        Provider("azure", ("login.microsoftonline.com", "login.microsoft.com"), (ANYWHERE,)),
        Provider("digitalocean", ("api.digitalocean.com", "cloud.digitalocean.com"), _BEARER),
        Provider("cloudflare", ("api.cloudflare.com",),
                 (*_BEARER, "header:x-auth-key", "header:x-auth-user-service-key")),
        # Vault servers are the operator's own, on any host; the token's place is its header.
        Provider("vault", ("*",), ("header:x-vault-token", *_BEARER)),
        Provider("sendgrid", ("api.sendgrid.com",), _BEARER),
        Provider("twilio", ("api.twilio.com", "*.twilio.com"), _BEARER),
        Provider("mailgun", ("api.mailgun.net", "api.eu.mailgun.net"), _BEARER),
        Provider("notion", ("api.notion.com",), _BEARER),
        Provider("linear", ("api.linear.app",), _BEARER),
        Provider("shopify", ("*.myshopify.com",), ("header:x-shopify-access-token", *_BEARER)),
        Provider("elevenlabs", ("api.elevenlabs.io", "*.elevenlabs.io"), ("header:xi-api-key", *_BEARER)),
        Provider("fireworks", ("api.fireworks.ai",), _BEARER),
        Provider("cohere", ("api.cohere.com", "api.cohere.ai"), _BEARER),
        Provider("mistral", ("api.mistral.ai", "codestral.mistral.ai"), _BEARER),
        # A JWT is a bearer token for whatever service issued it; in a header it is normal use anywhere.
        Provider("jwt", ("*",), ("header:authorization", "header:cookie", "header:x-auth-token",
                                 "header:x-access-token", "header:x-id-token")),
    )
}


# Providers whose hosts are LLM APIs: where an agent's chat (and talk about files) normally goes.
LLM_PROVIDERS = ("openai", "anthropic", "openrouter", "google", "groq", "xai", "perplexity", "openai-compatible",
                 "fireworks", "cohere", "mistral")


def is_llm_host(host: str, extra_hosts: dict[str, list[str]] | None = None) -> bool:
    """host is one of the LLM APIs: built in, or added for an LLM provider by config provider_hosts."""
    hosts = [h for name in LLM_PROVIDERS for h in (*PROVIDERS[name].hosts, *(extra_hosts or {}).get(name, ()))]
    return bool(host) and host_matches(host, hosts)


def host_matches(host: str, patterns: tuple[str, ...] | list[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in patterns)


@dataclass(frozen=True)
class UseContext:
    """Where a secret was seen: enough to decide whether it was its provider's normal use."""

    host: str
    part: str  # url | header | body
    header_name: str = ""
    url: str = ""
    body_text: str = ""


def is_expected_use(provider_name: str | None, secret: str, ctx: UseContext,
                    extra_hosts: dict[str, list[str]] | None = None) -> bool:
    provider = PROVIDERS.get(provider_name or "")
    if provider is None:
        return False
    hosts = (*provider.hosts, *(extra_hosts or {}).get(provider.name, ()))
    if not host_matches(ctx.host, hosts):
        return False
    return any(in_auth_location(location, secret, ctx) for location in provider.auth)


def in_auth_location(location: str, secret: str, ctx: UseContext) -> bool:
    """True when this occurrence of secret sits in the given auth location (see the module doc)."""
    if location == ANYWHERE:
        return True
    kind, _, name = location.partition(":")
    if kind == "header":
        return ctx.part == "header" and ctx.header_name == name
    if ctx.part == "url" and kind in ("query", "path", "url"):
        parts = urlsplit(ctx.url)
        if kind == "url":
            return True
        if kind == "query":
            return any(key.lower() == name and secret in value for key, value in parse_qsl(parts.query))
        return f"{name}{secret}" in parts.path
    if kind == "body_json" and ctx.part == "body":
        value = _json_field(ctx.body_text, name)
        return isinstance(value, str) and (value == secret or value.split(" ")[-1] == secret
                                           and _SCHEME_WORD.fullmatch(value[:-len(secret)].strip()) is not None)
    if kind == "body_form" and ctx.part == "body":
        return any(key == name and value == secret for key, value in parse_qsl(ctx.body_text[:65536]))
    return False


_SCHEME_WORD = re.compile(r"(?i)bot|bearer|token|basic")


def _json_field(body: str, dotted: str):
    """The value at a dotted path ('d.token') of a JSON object body, or None."""
    if not body.lstrip().startswith("{"):
        return None
    try:
        node = json.loads(body)
    except (ValueError, RecursionError):
        return None
    for key in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node
