"""PICOCLAW_* environment variables that set secret fields or the hosts they go to.

PicoClaw applies its `env` struct tags after reading both files (pkg/config/config.go
LoadConfig, then InitChannelList per channel), so an exported variable beats either file.
Channel variables apply to every instance of that channel type. List fields (web tools'
api_keys) take comma-separated values. Values may themselves be file:// or enc://.

The monitor sees the variables of its own environment and, when start.sh launched the
gateway, of that child (the caller passes them in); a variable set only in some other
shell is not visible, which validate.py says.
"""

from __future__ import annotations

from dataclasses import dataclass

from traffic_guardian.picoclaw.bindings import CHANNELS


@dataclass(frozen=True)
class EnvField:
    section: str  # channel | web | voice | skill
    name: str  # channel type, web tool, registry
    field: str  # the config field it sets
    secret: bool
    is_list: bool = False


def _channel_fields() -> dict[str, EnvField]:
    names: dict[str, EnvField] = {}
    for channel_type, spec in CHANNELS.items():
        # wecom's settings struct has bare tags (BOT_ID, SECRET, WEBSOCKET_URL): PicoClaw reads
        # exactly those names, so an unrelated SECRET variable in the gateway's environment is its secret
        prefix = "" if channel_type == "wecom" else f"PICOCLAW_CHANNELS_{channel_type.upper()}_"
        for field_name in spec.fields:
            if channel_type == "matrix" and field_name == "crypto_passphrase":
                continue  # no env tag
            names[prefix + field_name.upper()] = EnvField("channel", channel_type, field_name, True)
        for field_name in (*spec.host_fields, *(("proxy",) if spec.proxy_field else ())):
            names[prefix + field_name.upper()] = EnvField("channel", channel_type, field_name, False)
    return names


ENV_FIELDS: dict[str, EnvField] = {
    **_channel_fields(),
    **{f"PICOCLAW_TOOLS_WEB_{tool.upper()}_API_KEYS": EnvField("web", tool, "api_keys", True, True)
       for tool in ("brave", "tavily", "kagi", "perplexity")},
    "PICOCLAW_TOOLS_WEB_GEMINI_API_KEY": EnvField("web", "gemini", "api_key", True),
    "PICOCLAW_TOOLS_WEB_GLM_API_KEY": EnvField("web", "glm_search", "api_key", True),
    "PICOCLAW_TOOLS_WEB_BAIDU_API_KEY": EnvField("web", "baidu_search", "api_key", True),
    "PICOCLAW_TOOLS_WEB_TAVILY_BASE_URL": EnvField("web", "tavily", "base_url", False),
    "PICOCLAW_TOOLS_WEB_KAGI_BASE_URL": EnvField("web", "kagi", "base_url", False),
    "PICOCLAW_TOOLS_WEB_GLM_BASE_URL": EnvField("web", "glm_search", "base_url", False),
    "PICOCLAW_TOOLS_WEB_BAIDU_BASE_URL": EnvField("web", "baidu_search", "base_url", False),
    "PICOCLAW_TOOLS_WEB_SEARXNG_BASE_URL": EnvField("web", "searxng", "base_url", False),
    "PICOCLAW_TOOLS_WEB_PROXY": EnvField("web", "*", "proxy", False),
    "PICOCLAW_VOICE_ELEVENLABS_API_KEY": EnvField("voice", "elevenlabs", "elevenlabs_api_key", True),
    "PICOCLAW_TOOLS_SKILLS_GITHUB_TOKEN": EnvField("skill", "github", "token", True),
    "PICOCLAW_TOOLS_SKILLS_GITHUB_BASE_URL": EnvField("skill", "github", "base_url", False),
    "PICOCLAW_TOOLS_SKILLS_GITHUB_PROXY": EnvField("skill", "github", "proxy", False),
    "PICOCLAW_SKILLS_REGISTRIES_CLAWHUB_AUTH_TOKEN": EnvField("skill", "clawhub", "auth_token", True),
    "PICOCLAW_SKILLS_REGISTRIES_CLAWHUB_BASE_URL": EnvField("skill", "clawhub", "base_url", False),
}

# Variables that decide where the files are and how enc:// values open: part of what a reload compares.
LOCATION_VARIABLES = ("PICOCLAW_HOME", "PICOCLAW_CONFIG", "PICOCLAW_KEY_PASSPHRASE", "PICOCLAW_SSH_KEY_PATH", "HOME")


def overrides(env: dict[str, str]) -> list[tuple[str, EnvField, list[str]]]:
    """(variable, field, values) for every set, non-empty PicoClaw variable, in name order."""
    found = []
    for name in sorted(ENV_FIELDS):
        raw = env.get(name, "")
        if not raw.strip():
            continue
        spec = ENV_FIELDS[name]
        values = [part.strip() for part in raw.split(",")] if spec.is_list else [raw.strip()]
        found.append((name, spec, [value for value in values if value]))
    return found


def relevant(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The part of env the reader depends on, for change detection (held in memory only)."""
    return tuple((name, env[name]) for name in sorted({*ENV_FIELDS, *LOCATION_VARIABLES}) if name in env)
