"""Where PicoClaw sends each secret it holds: hosts and auth locations per protocol, channel type and tool.

A secret is only quiet where PicoClaw itself would send it; this table says where that
is, in providers.py's auth-location vocabulary (header:<name>, query:<name>, path:<prefix>,
url, body_json:<field>, body_form:<field>, any). config_files.py attaches one entry to
every secret it reads. Every row was checked against PicoClaw's source (sipeed/picoclaw,
the files named beside each table; SPEC.md section 12 lists them); nothing here is copied
from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from traffic_guardian.detect.providers import ANYWHERE

AUTHZ = "header:authorization"
_BEARER = (AUTHZ,)


@dataclass(frozen=True)
class Protocol:
    """A model protocol: the host of its default api_base and where its client puts the key."""

    hosts: tuple[str, ...]
    auth: tuple[str, ...]
    key_from_config: bool = True  # False: the client authenticates some other way (OAuth, AWS, a local CLI)


# pkg/providers/provider_metadata.go (default api_base per provider id) and
# pkg/providers/factory_provider.go (which client each protocol gets). PicoClaw's OpenAI-compatible
# HTTP client (openai_compat/provider.go) sends "Authorization: Bearer <key>" and serves every
# protocol below that has _BEARER, the "anthropic" protocol included (its OpenAI-compatible endpoint).
PROTOCOLS: dict[str, Protocol] = {
    "openai": Protocol(("api.openai.com",), _BEARER),
    "anthropic": Protocol(("api.anthropic.com",), _BEARER),
    "anthropic-messages": Protocol(("api.anthropic.com",), ("header:x-api-key",)),  # anthropic_messages/provider.go
    "alibaba-coding-anthropic": Protocol(("coding-intl.dashscope.aliyuncs.com",), ("header:x-api-key",)),
    # httpapi/gemini_provider.go
    "gemini": Protocol(("generativelanguage.googleapis.com",), ("header:x-goog-api-key",)),
    "azure": Protocol((), _BEARER),  # azure/provider.go: api_base is required; the key as a bearer token
    "bedrock": Protocol(("*.amazonaws.com",), _BEARER, key_from_config=False),  # AWS SDK credential chain
    "deepseek": Protocol(("api.deepseek.com",), _BEARER),
    "openrouter": Protocol(("openrouter.ai",), _BEARER),
    "qwen-portal": Protocol(("dashscope.aliyuncs.com",), _BEARER),
    "qwen-intl": Protocol(("dashscope-intl.aliyuncs.com",), _BEARER),
    "qwen-us": Protocol(("dashscope-us.aliyuncs.com",), _BEARER),
    "moonshot": Protocol(("api.moonshot.cn",), _BEARER),
    "volcengine": Protocol(("ark.cn-beijing.volces.com",), _BEARER),
    "zhipu": Protocol(("open.bigmodel.cn",), _BEARER),
    "groq": Protocol(("api.groq.com",), _BEARER),
    "mistral": Protocol(("api.mistral.ai",), _BEARER),
    "nvidia": Protocol(("integrate.api.nvidia.com",), _BEARER),
    "cerebras": Protocol(("api.cerebras.ai",), _BEARER),
    "venice": Protocol(("api.venice.ai",), _BEARER),
    "shengsuanyun": Protocol(("router.shengsuanyun.com",), _BEARER),
    "siliconflow": Protocol(("api.siliconflow.cn",), _BEARER),
    "vivgrid": Protocol(("api.vivgrid.com",), _BEARER),
    "minimax": Protocol(("api.minimaxi.com",), _BEARER),
    "longcat": Protocol(("api.longcat.chat",), _BEARER),
    "modelscope": Protocol(("api-inference.modelscope.cn",), _BEARER),
    # chat with a bearer token; its TTS client (audio/tts/mimo_tts.go) sends the key as Api-Key
    "mimo": Protocol(("api.xiaomimimo.com",), (AUTHZ, "header:api-key")),
    "avian": Protocol(("api.avian.io",), _BEARER),
    "zai": Protocol(("api.z.ai",), _BEARER),
    "alibaba-coding": Protocol(("coding-intl.dashscope.aliyuncs.com",), _BEARER),
    "novita": Protocol(("api.novita.ai",), _BEARER),
    "elevenlabs": Protocol(("api.elevenlabs.io",), ("header:xi-api-key",)),  # audio/asr/elevenlabs_transcriber.go
    "litellm": Protocol(("localhost",), _BEARER),
    "ollama": Protocol(("localhost",), _BEARER),
    "vllm": Protocol(("localhost",), _BEARER),
    "lmstudio": Protocol(("localhost",), _BEARER),
    "gpt4free": Protocol(("localhost",), _BEARER),
    "github-copilot": Protocol(("localhost",), (), key_from_config=False),  # gRPC/stdio to a local Copilot server
    "antigravity": Protocol(("cloudcode-pa.googleapis.com",), _BEARER, key_from_config=False),  # OAuth, auth.json
    "claude-cli": Protocol((), (), key_from_config=False),  # runs the local CLI, which has its own credentials
    "codex-cli": Protocol((), (), key_from_config=False),
}

# provider_metadata.go's aliases: NormalizeProvider maps each to its canonical id.
PROTOCOL_ALIASES: dict[str, str] = {
    "gpt": "openai", "claude": "anthropic", "google": "gemini", "qwen": "qwen-portal",
    "qwen-international": "qwen-intl", "dashscope-intl": "qwen-intl", "dashscope-us": "qwen-us",
    "glm": "zhipu", "azure-openai": "azure", "copilot": "github-copilot", "google-antigravity": "antigravity",
    "g4f": "gpt4free", "z.ai": "zai", "z-ai": "zai", "coding-plan": "alibaba-coding", "qwen-coding": "alibaba-coding",
    "coding-plan-anthropic": "alibaba-coding-anthropic",
}
DEFAULT_PROTOCOL = "openai"  # an unprefixed model, or a prefix PicoClaw does not know (model_ref.go)
OAUTH_METHODS = ("oauth", "token")  # auth_method values that make openai/anthropic use auth.json instead


def normalize_protocol(name: str) -> str:
    name = name.strip().lower()
    return PROTOCOL_ALIASES.get(name, name)


def model_protocol(entry: dict) -> str:
    """The protocol PicoClaw picks for a model_list entry: `provider` wins; else the model's
    prefix when it names a known provider; else openai (the whole model string is the id)."""
    provider = entry.get("provider")
    if isinstance(provider, str) and provider.strip():
        return normalize_protocol(provider)
    model = entry.get("model")
    prefix, found, _rest = (model.strip() if isinstance(model, str) else "").partition("/")
    if found and normalize_protocol(prefix) in PROTOCOLS:
        return normalize_protocol(prefix)
    return DEFAULT_PROTOCOL


@dataclass(frozen=True)
class ChannelSpec:
    """One channel type: its default hosts, its secret settings and where each is sent.

    fields: settings field -> auth locations; () = only used locally, never sent out.
    host_fields: settings naming the server; when set they replace the default hosts.
    transport: "http" (HTTP or websocket, honours the proxy variables), "tcp" (a raw socket
    no HTTP proxy ever sees), "inbound" (PicoClaw listens; peers present the secret to it).
    webhook_urls: dotted path (with * for a map key) of settings that are webhook URLs, each
    its own credential and its own host.
    """

    hosts: tuple[str, ...]
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    host_fields: tuple[str, ...] = ()
    transport: str = "http"
    webhook_urls: str = ""
    extra_hosts: tuple[str, ...] = ()  # other hosts it calls without the secret (CDNs)
    proxy_field: bool = False  # settings.proxy: a per-channel proxy that overrides the variables


# pkg/config/config_channel.go (channel types and their settings structs in config.go) and the
# clients in pkg/channels/<type>/.
CHANNELS: dict[str, ChannelSpec] = {
    # telego: https://api.telegram.org/bot<token>/<method>; base_url replaces the host
    "telegram": ChannelSpec(("api.telegram.org",), {"token": ("path:/bot", "path:/file/bot")},
                            host_fields=("base_url",), proxy_field=True),
    # discordgo: REST "Authorization: Bot <token>"; gateway IDENTIFY {"op":2,"d":{"token":"Bot <token>"}}
    "discord": ChannelSpec(("discord.com", "*.discord.com", "discordapp.com", "*.discordapp.com",
                            "gateway.discord.gg", "*.discord.gg"), {"token": (AUTHZ, "body_json:d.token")},
                           proxy_field=True),
    "slack": ChannelSpec(("slack.com", "*.slack.com"), {"bot_token": _BEARER, "app_token": _BEARER}),
    # larksuite oapi-sdk: tenant token request {"app_id","app_secret"}; websocket endpoint {"AppID","AppSecret"}
    "feishu": ChannelSpec(("open.feishu.cn", "open.larksuite.com"),
                          {"app_secret": ("body_json:app_secret", "body_json:AppSecret"), "encrypt_key": (),
                           "verification_token": ()}),
    # botgo: POST bots.qq.com/app/getAppAccessToken {"appId","clientSecret"}
    "qq": ChannelSpec(("bots.qq.com", "api.sgroup.qq.com", "sandbox.api.sgroup.qq.com"),
                      {"app_secret": ("body_json:clientSecret",)}),
    # dingtalk-stream-sdk: POST api.dingtalk.com/v1.0/gateway/connections/open {"clientId","clientSecret"}
    "dingtalk": ChannelSpec(("api.dingtalk.com", "oapi.dingtalk.com"),
                            {"client_secret": ("body_json:clientSecret", "body_json:appSecret", "query:appsecret")}),
    # mautrix: Authorization to the homeserver; crypto_passphrase only unlocks the local crypto store
    "matrix": ChannelSpec((), {"access_token": (AUTHZ, "query:access_token"), "crypto_passphrase": ()},
                          host_fields=("homeserver",)),
    "line": ChannelSpec(("api.line.me", "api-data.line.me"), {"channel_access_token": _BEARER, "channel_secret": ()}),
    "onebot": ChannelSpec((), {"access_token": (AUTHZ, "query:access_token")}, host_fields=("ws_url",)),
    # wecom/wecom.go: websocket, first frame {"cmd":"aibot_subscribe","body":{"bot_id","secret"}}
    "wecom": ChannelSpec(("openws.work.weixin.qq.com",), {"secret": ("body_json:body.secret",)},
                         host_fields=("websocket_url",)),
    # weixin/api.go: "Authorization: Bearer <token>" to ilinkai.weixin.qq.com (base_url replaces it)
    "weixin": ChannelSpec(("ilinkai.weixin.qq.com",), {"token": _BEARER}, host_fields=("base_url",),
                          extra_hosts=("novac2c.cdn.weixin.qq.com",), proxy_field=True),
    "pico": ChannelSpec((), {"token": ()}, transport="inbound"),  # clients present it to PicoClaw
    "pico_client": ChannelSpec((), {"token": _BEARER}, host_fields=("url",)),  # pico/client.go, websocket
    "irc": ChannelSpec((), {"password": (ANYWHERE,), "nickserv_password": (ANYWHERE,), "sasl_password": (ANYWHERE,)},
                       host_fields=("server",), transport="tcp"),
    # vksdk: POST api.vk.com/method/<name> with access_token in the form body
    "vk": ChannelSpec(("api.vk.com",), {"token": ("body_form:access_token", "query:access_token")}),
    "mqtt": ChannelSpec((), {"username": (ANYWHERE,), "password": (ANYWHERE,)}, host_fields=("broker",),
                        transport="tcp"),
    "maixcam": ChannelSpec((), transport="inbound"),  # a TCP server on host:port
    "whatsapp": ChannelSpec((), host_fields=("bridge_url",)),  # a websocket to the local bridge
    # whatsmeow's own websocket; its default transport reads the proxy variables as net/http does
    "whatsapp_native": ChannelSpec(("web.whatsapp.com", "*.whatsapp.net")),
    "teams_webhook": ChannelSpec((), webhook_urls="webhooks.*.webhook_url"),
    "slack_webhook": ChannelSpec((), webhook_urls="webhooks.*.webhook_url"),
}

# Channel names of the v0-v2 layouts that current PicoClaw no longer has (migration.go folds them
# into the types above). Read from legacy files only.
LEGACY_CHANNELS: dict[str, ChannelSpec] = {
    "wecom_app": ChannelSpec(("qyapi.weixin.qq.com",), {"corp_secret": ("query:corpsecret",), "token": (),
                                                        "encoding_aes_key": ()}),
    "wecom_aibot": ChannelSpec(("qyapi.weixin.qq.com", "*.work.weixin.qq.com"),
                               {"secret": (ANYWHERE,), "token": (), "encoding_aes_key": ()}),
}


@dataclass(frozen=True)
class WebTool:
    """A web search tool: default hosts, where its key goes, and whether base_url replaces the host."""

    hosts: tuple[str, ...]
    auth: tuple[str, ...] = ()  # () = keyless
    base_url: bool = False


# pkg/config/config.go WebToolsConfig and the clients in pkg/tools/integration/web.go.
WEB_TOOLS: dict[str, WebTool] = {
    "brave": WebTool(("api.search.brave.com",), ("header:x-subscription-token",)),
    "tavily": WebTool(("api.tavily.com",), ("body_json:api_key",), base_url=True),
    "kagi": WebTool(("kagi.com",), _BEARER, base_url=True),  # kagi-openapi client, access token header
    "perplexity": WebTool(("api.perplexity.ai",), _BEARER),
    "gemini": WebTool(("generativelanguage.googleapis.com",), ("header:x-goog-api-key",)),
    "glm_search": WebTool(("open.bigmodel.cn",), _BEARER, base_url=True),
    "baidu_search": WebTool(("qianfan.baidubce.com",), _BEARER, base_url=True),
    "searxng": WebTool((), base_url=True),
    "sogou": WebTool(("wap.sogou.com",)),
    "duckduckgo": WebTool(("html.duckduckgo.com",)),
}

# voice.elevenlabs_api_key (config.go VoiceConfig): ElevenLabs' own header.
VOICE_ELEVENLABS = WebTool(("api.elevenlabs.io",), ("header:xi-api-key",))

GITHUB_HOSTS = ("github.com", "api.github.com", "uploads.github.com", "codeload.github.com",
                "*.githubusercontent.com")
# pkg/skills/clawhub_registry.go and github_registry.go: "Authorization: Bearer <token>" to base_url.
SKILL_REGISTRIES: dict[str, WebTool] = {
    "clawhub": WebTool(("clawhub.ai",), _BEARER, base_url=True),
    "github": WebTool(GITHUB_HOSTS, _BEARER, base_url=True),
}

# $PICOCLAW_HOME/auth.json credentials.<provider> (pkg/auth/store.go): OAuth tokens, the access
# token as a bearer token to the provider's API, the refresh token to its token endpoint.
AUTH_PROVIDERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "openai": (("chatgpt.com", "api.openai.com"), ("auth.openai.com",)),  # Codex OAuth
    "anthropic": (("api.anthropic.com",), ("console.anthropic.com", "claude.ai")),
    "google-antigravity": (("cloudcode-pa.googleapis.com", "www.googleapis.com"), ("oauth2.googleapis.com",)),
}
