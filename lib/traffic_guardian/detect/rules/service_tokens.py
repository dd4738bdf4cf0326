"""Credentials of the services an agent gateway's operator holds beyond the LLM providers.

Package registries, code hosts, cloud and infrastructure, the SaaS APIs agents are given,
and more AI providers. Each format is the vendor's own (token prefixes and alphabets as the
vendors document them and as gitleaks' rule set records them); a family without a prefix
(Cohere, Mistral, Cloudflare API tokens, Gitea/Forgejo) is matched only beside its name in
an assignment (`COHERE_API_KEY=...`, `"cloudflare_token": "..."`), because a bare 40-character
string is anybody's. Every key goes to its own host in its own auth location without a
finding (detect/providers.py); anywhere else it is one.
"""

from __future__ import annotations

from .exfil import _key, _token

# `NAME ... = "value"`: the service's name in the key, then the value of the given shape.
_ASSIGNED = (r"(?i:{names})[\w.-]{{0,24}}+[\"']?[ \t]{{0,3}}+[:=][ \t]{{0,3}}+[\"']?"
             r"(?P<secret>{value})(?![A-Za-z0-9_-])")


def _assigned(names: str, value: str) -> str:
    return _ASSIGNED.format(names=names, value=value)


REGISTRY_TOKENS = (
    _token("registry_token", "npm", "npm", r"npm_[A-Za-z0-9]{36}", ("npm_",), "npm_", "npm access token"),
    _token("registry_token", "pypi", "pypi", r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,1000}+", ("pypi-ageichlwas5vcmc",),
           "pypi-", "PyPI API token (a pypi.org macaroon)"),
    _token("registry_token", "rubygems", "rubygems", r"rubygems_[a-f0-9]{48}", ("rubygems_",), "rubygems_",
           "RubyGems API key"),
    _token("registry_token", "dockerhub", "dockerhub", r"dckr_(?:pat|oat)_[A-Za-z0-9_-]{27,40}+",
           ("dckr_pat_", "dckr_oat_"), "dckr_", "Docker Hub personal or organisation access token"),
)

CODE_HOST_TOKENS = (
    _token("code_host_token", "gitlab", "gitlab", r"gl(?:pat|dt|rt|ptt|cbt|oas|ft)-[A-Za-z0-9_-]{20,300}+",
           ("glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "gloas-", "glft-"), "gl",
           "GitLab token (personal, deploy, runner, trigger, CI job, OAuth, feed)"),
    _token("code_host_token", "bitbucket", "bitbucket", r"ATBB[A-Za-z0-9_=.-]{28,40}+", ("atbb",), "ATBB",
           "Bitbucket app password"),
    _token("code_host_token", "atlassian", "atlassian", r"ATATT3[A-Za-z0-9_=-]{150,250}+", ("atatt3",), "ATATT3",
           "Atlassian API token (Jira, Confluence, Bitbucket)"),
    _token("code_host_token", "gitea", "gitea", _assigned("gitea|forgejo|codeberg", r"[a-f0-9]{40}"),
           ("gitea", "forgejo", "codeberg"), "", "Gitea / Forgejo access token beside its name"),
)

CLOUD_CREDENTIALS = (
    _token("cloud_credential", "azure_storage_key", None, r"AccountKey=(?P<secret>[A-Za-z0-9+/]{86}==)",
           ("accountkey=",), "", "Azure storage account key (in a connection string)", severity="critical"),
    _token("cloud_credential", "azure_ad_client_secret", "azure",
           r"[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}+", ("q~",), "", "Microsoft Entra (Azure AD) client secret",
           severity="critical"),
    _token("cloud_credential", "digitalocean", "digitalocean", r"do[opr]_v1_[a-f0-9]{64}",
           ("dop_v1_", "doo_v1_", "dor_v1_"), "do", "DigitalOcean token", severity="critical"),
    _token("cloud_credential", "cloudflare", "cloudflare",
           _assigned("cloudflare|cf_api|cf_token", r"[A-Za-z0-9_-]{40}|[a-f0-9]{37}"), ("cloudflare", "cf_api",
           "cf_token"), "", "Cloudflare API token or global API key beside its name"),
    _token("cloud_credential", "cloudflare_origin_ca", "cloudflare", r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}",
           ("v1.0-",), "v1.0-", "Cloudflare Origin CA key"),
    _token("cloud_credential", "vault", "vault", r"hv[sbr]\.[A-Za-z0-9_-]{24,300}+", ("hvs.", "hvb.", "hvr."),
           "hv", "HashiCorp Vault token", severity="critical"),
)

SAAS_API_KEYS = (
    _token("saas_api_key", "sendgrid", "sendgrid", r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}", ("sg.",), "SG.",
           "SendGrid API key"),
    _token("saas_api_key", "twilio", "twilio", r"SK[0-9a-fA-F]{32}", ("sk",), "SK", "Twilio API key SID"),
    _token("saas_api_key", "mailgun", "mailgun", r"key-[a-f0-9]{32}", ("key-",), "key-", "Mailgun private API key"),
    _token("saas_api_key", "notion", "notion", r"(?:ntn_[0-9]{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43})",
           ("ntn_", "secret_"), "", "Notion integration token"),
    _token("saas_api_key", "linear", "linear", r"lin_(?:api|oauth)_[A-Za-z0-9]{40,64}+", ("lin_api_", "lin_oauth_"),
           "lin_", "Linear API key or OAuth token"),
    _token("saas_api_key", "shopify", "shopify", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
           ("shpat_", "shpca_", "shppa_", "shpss_"), "shp", "Shopify access token or shared secret"),
)

MORE_AI_KEYS = (
    _key("elevenlabs", "elevenlabs", r"sk_[a-f0-9]{48}", ("sk_",), "sk_", "ElevenLabs API key"),
    _key("fireworks", "fireworks", r"fw_[A-Za-z0-9]{24,40}+", ("fw_",), "fw_", "Fireworks AI API key"),
    _key("cohere", "cohere", _assigned("cohere|co_api_key", r"[A-Za-z0-9]{40}"), ("cohere", "co_api_key"), "",
         "Cohere API key beside its name"),
    _key("mistral", "mistral", _assigned("mistral", r"[A-Za-z0-9]{32}"), ("mistral",), "",
         "Mistral API key beside its name"),
)

SERVICE_TOKENS = (*REGISTRY_TOKENS, *CODE_HOST_TOKENS, *CLOUD_CREDENTIALS, *SAAS_API_KEYS, *MORE_AI_KEYS)
