"""PicoClaw-shaped config.json and .security.yml with fake keys, written into a tmp PICOCLAW_HOME.

Shapes follow current PicoClaw (config schema v3, sipeed/picoclaw pkg/config/config.go):
structure in config.json (`model_list`, `channel_list.<instance>` with type and settings,
`tools`), credentials in .security.yml (model_list keyed by model_name with an optional
':N' index, `channel_list.<instance>.settings`, `web`, `skills`). Every key is generated
at test time (fakes.py). picoclaw_v3_home.py builds the full home of every vendor,
channel type and tool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import fakes


@dataclass
class PicoClawFixture:
    home: Path
    keys: dict[str, str] = field(default_factory=dict)  # role -> fake value

    @property
    def values(self) -> list[str]:
        return list(self.keys.values())

    @property
    def config_path(self) -> Path:
        return self.home / "config.json"

    @property
    def security_path(self) -> Path:
        return self.home / ".security.yml"


def write_picoclaw_home(home: Path, gateway_base: str = "https://llm.gateway.test/v1",
                        openai_base: str = "https://api.openai.com/v1") -> PicoClawFixture:
    """A config like an operator's: four models, three channels, web tools, an MCP server."""
    home.mkdir(parents=True, exist_ok=True)
    keys = {
        "openai": fakes.openai_project_key(),
        "anthropic": fakes.anthropic_key(),
        "gateway": fakes.opaque_secret(40),  # a custom gateway key: no regex knows its format
        "deepseek": fakes.deepseek_key(),
        "telegram": fakes.telegram_bot_token(),
        "discord": fakes.discord_bot_token(),
        "slack_bot": fakes.slack_bot_token(),
        "brave": fakes.brave_search_key(),
        "tavily": fakes.tavily_key(),
        "github_skill": fakes.github_token(),
        "mcp": fakes.opaque_secret(32),
        "feishu_encrypt": fakes.opaque_secret(24),
    }
    config = {
        "version": 3,
        "agents": {"defaults": {"workspace": "~/.picoclaw/workspace", "model_name": "gpt-5.4",
                                "max_tokens": 8192, "restrict_to_workspace": True}},
        "model_list": [
            {"model_name": "gpt-5.4", "model": "openai/gpt-5.4", "api_base": openai_base},
            {"model_name": "claude-sonnet-4.6", "model": "anthropic/claude-sonnet-4-6"},
            # keys may still sit in config.json (hand-written, or never moved): PicoClaw reads them
            {"model_name": "my-gateway", "model": "openai/custom-model", "api_base": gateway_base,
             "api_keys": [keys["gateway"]]},
            {"model_name": "deepseek", "model": "deepseek/deepseek-chat", "api_keys": [keys["deepseek"]]},
        ],
        "channel_list": {
            "telegram": {"enabled": True, "type": "telegram", "allow_from": ["123456789"],
                         "settings": {"proxy": "", "base_url": ""}},
            "discord": {"enabled": True, "type": "discord", "allow_from": [], "settings": {"mention_only": False}},
            "slack": {"enabled": False, "type": "slack", "allow_from": [],
                      "settings": {"bot_token": keys["slack_bot"], "app_token": "xapp-YOUR-APP-TOKEN"}},
            "feishu": {"enabled": False, "type": "feishu", "allow_from": [],
                       "settings": {"app_id": "", "encrypt_key": keys["feishu_encrypt"]}},
            "maixcam": {"enabled": False, "type": "maixcam", "settings": {"host": "0.0.0.0", "port": 18790}},
        },
        "tools": {
            "web": {
                "brave": {"enabled": True, "max_results": 5},
                "tavily": {"enabled": True, "max_results": 5},
                "duckduckgo": {"enabled": True, "max_results": 5},
            },
            "mcp": {"enabled": True, "servers": {
                "kvm": {"enabled": True, "url": "https://kvm.lan.test/mcp",
                        "headers": {"Authorization": f"Bearer {keys['mcp']}"}},
            }},
            "skills": {"enabled": True, "registries": {
                "clawhub": {"enabled": True, "base_url": "https://clawhub.ai"},
                "github": {"enabled": True, "base_url": "https://github.com"},
            }},
            "cron": {"exec_timeout_minutes": 5},
        },
        "heartbeat": {"enabled": True, "interval": 30},
        "gateway": {"host": "127.0.0.1", "port": 18790},
    }
    security = f"""# PicoClaw credentials (test fixture; every value is generated)
model_list:
  gpt-5.4:0:
    api_keys:
      - "{keys['openai']}"
  claude-sonnet-4.6:
    api_keys:
      - '{keys['anthropic']}'   # single key in array format
channel_list:
  telegram:
    settings:
      token: {keys['telegram']}
  discord:
    settings:
      token: "{keys['discord']}"
web:
  brave:
    api_keys:
      - {keys['brave']}
  tavily:
    api_keys: ["{keys['tavily']}"]
skills:
  github:
    token: {keys['github_skill']}
  registries:
    clawhub: {{}}
"""
    (home / "config.json").write_text(json.dumps(config, indent=2))
    (home / ".security.yml").write_text(security)
    return PicoClawFixture(home, keys)
