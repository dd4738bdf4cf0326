"""Outbound EXFIL rules: credentials, private keys, and sensitive file paths or contents.

Secret rules (secret=True) are also what redaction masks everywhere, in every snippet of
every direction. A provider's key in its normal auth location going to that provider's
own host is not a finding (see providers.py); the rule still matches, the engine decides.
"""

from __future__ import annotations

import re

from . import EXFIL, Rule
from .validators import (
    all_of,
    assigned_secret,
    discord_token,
    group_contains,
    high_entropy,
    mixed_alnum_entropy,
    not_documented_example,
    not_placeholder,
)

OUT = "outbound"
# Key material must not be glued to more key characters on either side.
_B = r"(?<![A-Za-z0-9_-])"
_E = r"(?![A-Za-z0-9_-])"
# What a pattern can start with that re can skip to: one character class or a group of
# words of one length (both one fixed width), then literal characters.
_LEAD = re.compile(r"(?:\[[^\[\]\\]+\]|\(\?:(?P<words>[A-Za-z0-9_-]+(?:\|[A-Za-z0-9_-]+)+)\))?[A-Za-z0-9_-]*")
_QUANTIFIERS = ("{", "?", "*", "+")


def _bounded(regex: str) -> str:
    """_B + regex + _E, with the lookbehind moved after the regex's fixed-width lead when it has one.

    Same matches: `sk-(?<![A-Za-z0-9_-]sk-)` asserts the same character before the match as
    `(?<![A-Za-z0-9_-])sk-`, because the lead has one width. But re can only jump between
    the places where a pattern's first characters occur (a substring search for a literal
    prefix, a set test for a class) when the pattern starts with them; a leading lookbehind
    makes it try the whole pattern at every position of the text, about 2 ms per 64 KiB per
    rule (`(?:AKIA|ASIA|ABIA|ACCA)` in a 64 KiB body: 2.1 ms with it first, 0.05 ms after).
    """
    lead = _LEAD.match(regex)  # every part optional: always a match, perhaps empty
    words, prefix = lead.group("words"), lead.group(0)
    if words is not None and len({len(word) for word in words.split("|")}) != 1:
        prefix = ""  # words of different lengths: no fixed width for the lookbehind
    if prefix and regex[len(prefix) : len(prefix) + 1] in _QUANTIFIERS:
        # The last character is quantified: not part of a fixed prefix (a class or group: no prefix).
        prefix = prefix[:-1] if prefix[-1] not in "])" else ""
    if not prefix:
        return _B + regex + _E
    return prefix + r"(?<![A-Za-z0-9_-]" + prefix + ")" + regex[len(prefix) :] + _E


# Real key material is random; 'sk-proj-xxxxxxxx...' and 'ghp_000...' in docs are not.
_RANDOM = high_entropy(3.0)


def _key(variant, provider, regex, keywords, prefix, description, severity="high", validate=_RANDOM):
    return Rule(
        pattern="ai_api_key", variant=variant, threat_type=EXFIL, direction=OUT, severity=severity,
        description=description, regex=_bounded(regex), keywords=keywords, secret=True,
        provider=provider, public_prefix=prefix, validate=validate,
    )


def _token(pattern, variant, provider, regex, keywords, prefix, description, severity="high", validate=_RANDOM):
    return Rule(
        pattern=pattern, variant=variant, threat_type=EXFIL, direction=OUT, severity=severity,
        description=description, regex=_bounded(regex), keywords=keywords, secret=True,
        provider=provider, public_prefix=prefix, validate=validate,
    )


def _path(pattern, variant, severity, regex, keywords, description, secret=False, validate=None):
    """A sensitive path or file content; secret=True when group 'secret' holds a credential to mask.
    A variant ending in _path names the file without its content (Rule.mention)."""
    return Rule(
        pattern=pattern, variant=variant, threat_type=EXFIL, direction=OUT, severity=severity,
        description=description, regex=regex, keywords=keywords, secret=secret, validate=validate,
        mention=variant.endswith("_path"),
    )


AI_API_KEYS = (
    _key("openai_project", "openai", r"sk-proj-[A-Za-z0-9_-]{40,250}+", ("sk-proj-",), "sk-proj-",
         "OpenAI project API key"),
    _key("openai_service_account", "openai", r"sk-svcacct-[A-Za-z0-9_-]{40,250}+", ("sk-svcacct-",),
         "sk-svcacct-", "OpenAI service-account API key"),
    _key("openai_admin", "openai", r"sk-admin-[A-Za-z0-9_-]{40,250}+", ("sk-admin-",), "sk-admin-",
         "OpenAI admin API key", severity="critical"),
    _key("openai_legacy", "openai", r"sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}", ("t3blbkfj",), "sk-",
         "OpenAI legacy user API key"),
    _key("anthropic", "anthropic", r"sk-ant-(?:api|admin|oat)\d\d-[A-Za-z0-9_-]{60,200}+", ("sk-ant-",),
         "sk-ant-", "Anthropic API key"),
    _key("openrouter", "openrouter", r"sk-or-v1-[a-f0-9]{64}", ("sk-or-v1-",), "sk-or-v1",
         "OpenRouter API key"),
    _key("google", "google", r"AIza[0-9A-Za-z_-]{35}", ("aiza",), "AIza", "Google API key (Gemini, Cloud)"),
    _key("groq", "groq", r"gsk_[A-Za-z0-9]{52}", ("gsk_",), "gsk_", "Groq API key"),
    _key("xai", "xai", r"xai-[A-Za-z0-9]{70,90}+", ("xai-",), "xai-", "xAI (Grok) API key"),
    _key("perplexity", "perplexity", r"pplx-[A-Za-z0-9]{40,60}+", ("pplx-",), "pplx-", "Perplexity API key"),
    # Hugging Face tokens are hf_ (or api_org_ for organisations) and 34 letters, no digits.
    _key("huggingface", "huggingface", r"(?:hf|api_org)_[A-Za-z]{34}", ("hf_", "api_org_"), "hf_",
         "Hugging Face access token", validate=high_entropy(3.5)),
    _key("tavily", "tavily", r"tvly-(?:dev-|prod-)?[A-Za-z0-9]{32,48}+", ("tvly-",), "tvly-", "Tavily API key"),
    _key("replicate", "replicate", r"r8_[A-Za-z0-9]{37}", ("r8_",), "r8_", "Replicate API token",
         validate=mixed_alnum_entropy(3.5)),
    # DeepSeek, Moonshot, DashScope and other OpenAI-compatible services share the bare
    # sk-<alnum> shape; entropy and a digit/letter mix keep placeholders and words out. The bar is
    # 3.0 bits: a real 32-hex DeepSeek key scores 3.2..4.2, and 3.8 missed a third of them.
    # The lookahead leaves legacy OpenAI keys (T3BlbkFJ marker) to openai_legacy: one finding per key.
    _key("openai_compatible", "openai-compatible", r"sk-(?![A-Za-z0-9]{20}T3BlbkFJ)[A-Za-z0-9]{32,64}+",
         ("sk-",), "sk-",
         "OpenAI-compatible API key (DeepSeek, Moonshot, DashScope, legacy OpenAI ...)",
         validate=mixed_alnum_entropy(3.0)),
)

AWS = (
    _token("aws_access_key", "access_key_id", "aws", r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}",
           ("akia", "asia", "abia", "acca"), "AKIA", "AWS access key id",
           validate=all_of(_RANDOM, not_documented_example)),
    Rule(pattern="aws_access_key", variant="secret_access_key", threat_type=EXFIL, direction=OUT,
         severity="critical", description="AWS secret access key next to its field name",
         regex=r"(?i:aws_?secret_?access_?key|secret_?access_?key|aws_?secret)[\"'\s]{0,3}[:=][\"'\s]{0,3}"
               r"(?P<secret>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
         keywords=("secret_access_key", "secretaccesskey", "aws_secret", "awssecret", "secret-access-key"),
         secret=True, provider="aws", validate=all_of(high_entropy(3.5), not_placeholder)),
)

_PEM_KINDS = (
    ("pkcs8", "PRIVATE KEY", "PKCS#8 private key"),
    ("encrypted_pkcs8", "ENCRYPTED PRIVATE KEY", "encrypted PKCS#8 private key"),
    ("rsa", "RSA PRIVATE KEY", "RSA private key"),
    ("ec", "EC PRIVATE KEY", "EC private key"),
    ("dsa", "DSA PRIVATE KEY", "DSA private key"),
    ("openssh", "OPENSSH PRIVATE KEY", "OpenSSH private key"),
    ("pgp", "PGP PRIVATE KEY BLOCK", "PGP private key block"),
)
# The whole key block is the secret: header, base64 body (raw or with JSON \n escapes,
# or legacy Proc-Type/DEK-Info lines) and footer, bounded at 16 KiB.
PRIVATE_KEYS = tuple(
    Rule(pattern="private_key_pem", variant=variant, threat_type=EXFIL, direction=OUT, severity="critical",
         description=f"PEM {description}",
         regex=rf"-----BEGIN {label}-----(?P<secret>[A-Za-z0-9+/=\s\\:,.-]{{0,16384}}+)",
         keywords=(f"begin {label.lower()}-----",), secret=True)
    for variant, label, description in _PEM_KINDS
)

OTHER_TOKENS = (
    _token("github_token", "classic", "github", r"gh[pousr]_[A-Za-z0-9]{36}", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
           "gh", "GitHub token"),
    _token("github_token", "fine_grained", "github", r"github_pat_[A-Za-z0-9_]{82}", ("github_pat_",),
           "github_pat_", "GitHub fine-grained personal access token"),
    _token("slack_token", "token", "slack", r"xox[abposr]-[A-Za-z0-9-]{10,250}+", ("xoxa-", "xoxb-", "xoxp-", "xoxo-",
           "xoxs-", "xoxr-"), "xox", "Slack token", validate=mixed_alnum_entropy(3.0)),
    _token("slack_token", "webhook", "slack", r"https://hooks\.slack\.com/services/(?P<secret>T[A-Z0-9]{6,12}/"
           r"B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,32})", ("hooks.slack.com/services/",), "T", "Slack incoming webhook URL"),
    # Telegram puts the token right after 'bot' in its URLs (/bot<token>/getMe), so 'bot' may
    # touch it; without this the token was never seen in a URL, expected or not.
    Rule(pattern="telegram_bot_token", variant="bot_token", threat_type=EXFIL, direction=OUT, severity="high",
         description="Telegram bot token", regex=r"(?:(?<=bot)|" + _B + r")\d{8,10}:AA[A-Za-z0-9_-]{33}" + _E,
         keywords=(":aa",), secret=True, provider="telegram", validate=_RANDOM),
    _token("discord_bot_token", "bot_token", "discord",
           r"[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}", (), "",
           "Discord bot token", validate=discord_token),
    _token("discord_bot_token", "webhook", "discord",
           r"discord(?:app)?\.com/api/webhooks/\d{17,20}/(?P<secret>[A-Za-z0-9_-]{60,80})",
           ("/api/webhooks/",), "", "Discord webhook URL"),
    _token("stripe_key", "live", "stripe", r"[sr]k_live_[A-Za-z0-9]{16,99}+", ("sk_live_", "rk_live_"), "sk_live_",
           "Stripe live secret or restricted key", severity="critical"),
    _token("stripe_key", "test", "stripe", r"[sr]k_test_[A-Za-z0-9]{16,99}+", ("sk_test_", "rk_test_"), "sk_test_",
           "Stripe test-mode secret key", severity="low"),
    _token("jwt", "jwt", "jwt", r"eyJ[A-Za-z0-9_-]{8,2000}+\.eyJ[A-Za-z0-9_-]{8,4000}+\.[A-Za-z0-9_-]{16,1000}+",
           ("eyj",), "eyJ", "JSON Web Token outside an auth header", severity="medium"),
    Rule(pattern="gcp_service_account", variant="key_file", threat_type=EXFIL, direction=OUT, severity="critical",
         description="Google Cloud service-account key file (JSON)",
         regex=r"\"type\"\s{0,8}:\s{0,8}\"service_account\"", keywords=("service_account",)),
)

_HOME = r"(?:~|\$HOME|\$\{HOME\}|/home/[A-Za-z0-9._-]{1,64}|/root|/Users/[A-Za-z0-9._-]{1,64})?"

SENSITIVE_PATHS = (
    _path("ssh_key_file", "private_key_path", "medium",
          _HOME + r"/\.ssh/(?:id_(?:rsa|dsa|ecdsa|ed25519)(?:_sk)?|identity|picoclaw_ed25519\.key)(?![\w.-])",
          (".ssh/",), "path of an SSH private key file"),
    _path("unix_sensitive", "shadow_path", "medium", r"/etc/(?:shadow|gshadow|master\.passwd|sudoers)(?![\w.-])",
          ("/etc/",), "path of a Unix password or sudo policy file"),
    _path("unix_sensitive", "passwd_traversal", "high", r"(?:\.\./){1,16}+etc/(?:passwd|shadow)",
          ("../etc/",), "path traversal to /etc/passwd or /etc/shadow"),
    _path("unix_sensitive", "proc_environ", "high", r"/proc/(?:self|\d{1,7})/environ(?![\w.-])",
          ("/environ",), "process environment file (holds API keys)"),
    _path("unix_sensitive", "passwd_content", "high",
          r"(?m)^root:[x*]:0:0:[^:\n]{0,64}:/root:/[a-z/]{1,32}$", ("root:",), "/etc/passwd contents"),
    _path("unix_sensitive", "shadow_content", "critical",
          r"(?m)^[a-z_][a-z0-9_-]{0,31}+:(?P<secret>\$(?:1|2[aby]|5|6|y)\$[^:\n]{8,200}+):\d{0,6}:", (":$",),
          "/etc/shadow password hashes", secret=True),
    _path("dotenv_file", "dotenv_path", "low", r"\.env(?<![\w.-]\.env)(?:\.(?:local|production|prod|development|dev|"
          r"staging|test))?(?![\w.-])", (".env",), "path of a dotenv file"),
    _path("dotenv_file", "dotenv_secret_assignment", "high",
          r"(?m)^(?:export[ \t]+)?(?:[A-Z][A-Z0-9_]{0,60})?(?:API_KEY|APIKEY|TOKEN|SECRET|PASSWORD|PASSWD)"
          r"[A-Z0-9_]{0,20}=[\"']?(?P<secret>[^\s\"'#]{12,512}+)", ("key=", "token=", "secret=", "password=",
                                                                  "passwd=", "_key=", "apikey="),
          "dotenv-style secret assignment (KEY=value lines)", secret=True,
          validate=all_of(high_entropy(3.0), assigned_secret)),
    _path("dotenv_file", "cloud_credentials_path", "medium",
          r"(?:\.aws/(?:credentials|config)|\.config/gcloud/(?:application_default_credentials\.json|"
          r"credentials\.db|access_tokens\.db)|\.kube/config|\.docker/config\.json|\.netrc|\.pgpass|\.npmrc|"
          r"\.pypirc|\.git-credentials|\.azure/(?:accessTokens\.json|msal_token_cache\.json))(?![\w.-])",
          (".aws/", "gcloud/", ".kube/", ".docker/", ".netrc", ".pgpass", ".npmrc", ".pypirc", ".git-credentials",
           ".azure/"), "path of a cloud or tool credential file"),
    _path("dotenv_file", "netrc_content", "high",
          r"\bmachine[ \t]++(?P<host>\S{1,253}+)[ \t]++login[ \t]++\S{1,128}+[ \t]++"
          r"password[ \t]++(?P<secret>\S{1,256}+)", ("machine",), ".netrc credentials", secret=True,
          validate=group_contains("host", ".")),
    _path("dotenv_file", "kubeconfig_content", "high", r"(?:client-key-data|client-certificate-data):[ \t]*+"
          r"[\"']?(?P<secret>[A-Za-z0-9+/=._-]{40,16384}+)", ("client-key-data", "client-certificate-data"),
          "kubeconfig credentials", secret=True),
    _path("dotenv_file", "docker_auth_content", "high", r"\"auths\"\s{0,8}:\s{0,8}\{[^{}]{0,512}+\{\s{0,8}\"auth\""
          r"\s{0,8}:\s{0,8}\"(?P<secret>[A-Za-z0-9+/=]{8,4096}+)", ("\"auths\"",),
          "Docker registry credentials (config.json)", secret=True),
    _path("dotenv_file", "gcloud_adc_content", "high", r"\"type\"\s{0,8}:\s{0,8}\"authorized_user\"",
          ("authorized_user",), "gcloud application-default credentials"),
    _path("picoclaw_secret_file", "picoclaw_path", "high",
          r"\.picoclaw/(?:\.security\.yml|auth\.json|config\.json)(?![\w.-])", (".picoclaw/",),
          "PicoClaw's own secret files (config.json, .security.yml, auth.json)"),
    # PicoClaw copies both files to <name>.YYYYMMDD.bak before rewriting an older config (pkg/config MakeBackup)
    _path("picoclaw_secret_file", "picoclaw_backup_path", "high",
          r"(?:config\.json|\.security\.yml)\.20\d{6}\.bak(?![\w.-])", (".bak",),
          "dated backup of PicoClaw's config.json or .security.yml (holds the same secrets)"),
    # .security.yml moves with PICOCLAW_CONFIG, so its name alone is enough outside ~/.picoclaw too
    _path("picoclaw_secret_file", "security_yml_path", "medium",
          r"\.security\.yml(?<![\w.-]\.security\.yml)(?<!\.picoclaw/\.security\.yml)(?![\w.-])", (".security.yml",),
          "PicoClaw's credentials file (.security.yml) wherever PICOCLAW_CONFIG puts it"),
    # its content as PicoClaw writes it: a top-level section, an entry, then a credential field
    _path("picoclaw_secret_file", "security_yml_content", "high",
          r"(?m)^(?:model_list|channel_list|channels):[ \t]{0,8}+\r?\n[ ]{2}[^\s#][^\n]{0,120}:(?:[ \t]{0,8}+\r?\n"
          r"[ ]{4}settings:)?[ \t]{0,8}+\r?\n[ ]{4,6}(?:api_keys|token|app_secret|secret|client_secret|access_token|"
          r"bot_token|app_token|password|channel_access_token|webhooks):",
          ("model_list:", "channel_list:", "channels:"), "the contents of PicoClaw's .security.yml"),
    _path("picoclaw_secret_file", "auth_json_content", "high",
          r"\"credentials\"\s{0,8}:\s{0,8}\{\s{0,8}\"(?:openai|anthropic|google-antigravity)\"\s{0,8}:\s{0,8}\{"
          r"[^{}]{0,600}?\"(?:access|refresh)_token\"", ("\"credentials\"",),
          "the contents of PicoClaw's auth.json (OAuth tokens)"),
)

EXFIL_RULES = (*AI_API_KEYS, *AWS, *PRIVATE_KEYS, *OTHER_TOKENS, *SENSITIVE_PATHS)
