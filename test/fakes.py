"""Secret-shaped fakes, generated at test time so no secret-shaped literal sits in the repo.

Every generator returns a fresh random value in the real format of its kind. Tests plant
these and then sweep every output and file for them (see canary.py).
"""

from __future__ import annotations

import base64
import random
import string

_ALNUM = string.ascii_letters + string.digits
_URLSAFE = _ALNUM + "_-"
_rng = random.SystemRandom()


def rand(n: int, alphabet: str = _ALNUM) -> str:
    while True:
        value = "".join(_rng.choice(alphabet) for _ in range(n))
        # keep digits and letters both present, as validators of real keys expect
        # (an alphabet without both, such as digits only, cannot and need not mix)
        mixable = any(c.isdigit() for c in alphabet) and any(c.isalpha() for c in alphabet)
        if not mixable or any(c.isdigit() for c in value) and any(c.isalpha() for c in value):
            return value


def openai_project_key() -> str:
    return "sk-proj-" + rand(74, _URLSAFE).strip("-_") + "T3BlbkFJ" + rand(74, _URLSAFE).strip("-_")


def openai_service_account_key() -> str:
    return "sk-svcacct-" + rand(100, _URLSAFE).strip("-_")


def openai_admin_key() -> str:
    return "sk-admin-" + rand(80, _URLSAFE).strip("-_")


def openai_legacy_key() -> str:
    return "sk-" + rand(20) + "T3BlbkFJ" + rand(20)


def anthropic_key() -> str:
    return "sk-ant-api03-" + rand(93, _URLSAFE).strip("-_") + "AA"


def openrouter_key() -> str:
    return "sk-or-v1-" + rand(64, "0123456789abcdef")


def google_key() -> str:
    return "AIza" + rand(35, _URLSAFE)


def groq_key() -> str:
    return "gsk_" + rand(52)


def xai_key() -> str:
    return "xai-" + rand(80)


def perplexity_key() -> str:
    return "pplx-" + rand(48)


def huggingface_token() -> str:
    return "hf_" + rand(34, string.ascii_letters)  # letters only, as Hugging Face issues them


def tavily_key() -> str:
    return "tvly-dev-" + rand(32)


def replicate_token() -> str:
    return "r8_" + rand(37)


def deepseek_key() -> str:
    return "sk-" + rand(32, "0123456789abcdef")


def aws_access_key_id() -> str:
    return "AKIA" + rand(16, string.ascii_uppercase + "234567")


def aws_secret_access_key() -> str:
    return rand(40, _ALNUM + "+/")


def github_token() -> str:
    return "ghp_" + rand(36)


def github_fine_grained_token() -> str:
    return "github_pat_" + rand(22) + "_" + rand(59)


def slack_bot_token() -> str:
    return f"xoxb-{rand(12, string.digits)}-{rand(13, string.digits)}-{rand(24)}"


def telegram_bot_token() -> str:
    return f"{rand(10, string.digits)}:AA{rand(33, _URLSAFE)}"


def discord_bot_token() -> str:
    user_id = str(_rng.randrange(10**17, 10**19))
    first = base64.urlsafe_b64encode(user_id.encode()).decode().rstrip("=")
    return f"{first}.{rand(6, _URLSAFE)}.{rand(38, _URLSAFE)}"


def slack_webhook_url() -> str:
    upper = string.ascii_uppercase + string.digits
    return f"https://hooks.slack.com/services/T{rand(10, upper)}/B{rand(10, upper)}/{rand(24)}"


def discord_webhook_url() -> str:
    return f"https://discord.com/api/webhooks/{rand(19, string.digits)}/{rand(68, _URLSAFE)}"


def stripe_test_key() -> str:
    return "sk_test_" + rand(99)


def stripe_live_key() -> str:
    return "sk_live_" + rand(99)


def jwt() -> str:
    def segment(payload: str) -> str:
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")

    header = segment('{"alg":"HS256","typ":"JWT"}')
    payload = segment('{"sub":"' + rand(12) + '"}')
    return f"{header}.{payload}.{rand(43, _URLSAFE)}"


def ssh_public_key(kind: str = "ssh-ed25519") -> str:
    """An authorized_keys line: the base64 blob starts with the length-prefixed key type (AAAA...)."""
    blob = len(kind).to_bytes(4, "big") + kind.encode() + _rng.randbytes(51)
    return f"{kind} {base64.b64encode(blob).decode()} attacker@box"


def pem_private_key(label: str = "PRIVATE KEY") -> str:
    body = base64.b64encode(_rng.randbytes(600)).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n"


def opaque_secret(n: int = 40) -> str:
    """A secret in no known format (a custom provider key): only known_secret can find it."""
    return rand(n)


def brave_search_key() -> str:
    """Brave Search API key shape (BSA + 28): no regex rule knows it; known_secret does."""
    return "BSA" + rand(28, _URLSAFE)


ALL_KEY_GENERATORS = {
    "openai_project": openai_project_key,
    "openai_service_account": openai_service_account_key,
    "openai_admin": openai_admin_key,
    "openai_legacy": openai_legacy_key,
    "anthropic": anthropic_key,
    "openrouter": openrouter_key,
    "google": google_key,
    "groq": groq_key,
    "xai": xai_key,
    "perplexity": perplexity_key,
    "huggingface": huggingface_token,
    "tavily": tavily_key,
    "replicate": replicate_token,
    "openai_compatible": deepseek_key,
}


_HEX = "0123456789abcdef"

# Registries, code hosts, cloud, SaaS and more AI providers (detect/rules/service_tokens.py):
# each in its vendor's documented format.
SERVICE_TOKEN_GENERATORS = {
    "npm": lambda: "npm_" + rand(36),
    "pypi": lambda: "pypi-AgEIcHlwaS5vcmc" + rand(120, _URLSAFE),
    "rubygems": lambda: "rubygems_" + rand(48, _HEX),
    "dockerhub": lambda: "dckr_pat_" + rand(27, _URLSAFE).strip("-_") + rand(2),
    "gitlab": lambda: "glpat-" + rand(20, _URLSAFE).strip("-_") + rand(2),
    "bitbucket": lambda: "ATBB" + rand(32),
    "atlassian": lambda: "ATATT3xFfGF0" + rand(180, _URLSAFE).strip("-_") + "=" + rand(8, "0123456789ABCDEF"),
    "azure_ad_client_secret": lambda: rand(3) + "8Q~" + rand(34, _ALNUM + "_~."),
    "digitalocean": lambda: "dop_v1_" + rand(64, _HEX),
    "cloudflare_origin_ca": lambda: "v1.0-" + rand(24, _HEX) + "-" + rand(146, _HEX),
    "vault": lambda: "hvs." + rand(95, _URLSAFE).strip("-_") + rand(2),
    "sendgrid": lambda: "SG." + rand(22) + "." + rand(43),
    "twilio": lambda: "SK" + rand(32, _HEX),
    "mailgun": lambda: "key-" + rand(32, _HEX),
    "notion": lambda: "ntn_" + rand(11, "0123456789") + rand(35),
    "linear": lambda: "lin_api_" + rand(40),
    "shopify": lambda: "shpat_" + rand(32, _HEX),
    "elevenlabs": lambda: "sk_" + rand(48, _HEX),
    "fireworks": lambda: "fw_" + rand(24),
}


def azure_storage_connection_string() -> tuple[str, str]:
    """(connection string, its AccountKey): 64 random bytes, base64."""
    key = base64.b64encode(_rng.randbytes(64)).decode()
    return f"DefaultEndpointsProtocol=https;AccountName=acct{rand(6).lower()};AccountKey={key};" \
           "EndpointSuffix=core.windows.net", key


# Every shaped token family with a generator: what redaction tests plant.
TOKEN_GENERATORS = {
    **ALL_KEY_GENERATORS,
    "aws_access_key_id": aws_access_key_id,
    "github": github_token,
    "github_fine_grained": github_fine_grained_token,
    "slack": slack_bot_token,
    "telegram": telegram_bot_token,
    "discord": discord_bot_token,
    "stripe": stripe_live_key,
    "jwt": jwt,
}
