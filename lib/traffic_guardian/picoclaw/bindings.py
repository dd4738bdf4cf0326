"""Where PicoClaw sends each secret it holds: hosts and auth locations per vendor, channel and tool.

A secret is only quiet where PicoClaw itself would send it; this table says where that
is, in providers.py's auth-location vocabulary (header:<name>, query:<name>, path:<prefix>,
body_json:<field>, any). config_files.py attaches one entry to every secret it reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from traffic_guardian.detect.providers import ANYWHERE

AUTHZ = "header:authorization"
# Where a model key travels in the protocols PicoClaw speaks (OpenAI, Anthropic, Gemini, Azure).
MODEL_AUTH = (AUTHZ, "header:x-api-key", "header:api-key", "header:x-goog-api-key", "query:key")

# model prefix ("openai/gpt-5.4" -> "openai") -> the default API host PicoClaw uses when
# the entry has no api_base (PicoClaw's documented vendor table).
VENDOR_HOSTS: dict[str, tuple[str, ...]] = {
    "openai": ("api.openai.com",), "anthropic": ("api.anthropic.com",),
    "anthropic-messages": ("api.anthropic.com",), "azure": ("*.openai.azure.com",),
    "azure-openai": ("*.openai.azure.com",), "bedrock": ("*.amazonaws.com",),
    "venice": ("api.venice.ai",), "openrouter": ("openrouter.ai",), "litellm": ("localhost",),
    "lmstudio": ("localhost",), "groq": ("api.groq.com",), "zhipu": ("open.bigmodel.cn",),
    "gemini": ("generativelanguage.googleapis.com",), "nvidia": ("integrate.api.nvidia.com",),
    "ollama": ("localhost",), "moonshot": ("api.moonshot.cn",), "shengsuanyun": ("router.shengsuanyun.com",),
    "deepseek": ("api.deepseek.com",), "cerebras": ("api.cerebras.ai",), "vivgrid": ("api.vivgrid.com",),
    "volcengine": ("ark.cn-beijing.volces.com",), "vllm": ("localhost",),
    "qwen": ("dashscope.aliyuncs.com",), "qwen-intl": ("dashscope-intl.aliyuncs.com",),
    "qwen-us": ("dashscope-us.aliyuncs.com",), "coding-plan": ("coding-intl.dashscope.aliyuncs.com",),
    "coding-plan-anthropic": ("coding-intl.dashscope.aliyuncs.com",), "mistral": ("api.mistral.ai",),
    "avian": ("api.avian.io",), "minimax": ("api.minimaxi.com",), "longcat": ("api.longcat.chat",),
    "modelscope": ("api-inference.modelscope.cn",), "novita": ("api.novita.ai",),
    "mimo": ("api.xiaomimimo.com",),
}


@dataclass(frozen=True)
class ChannelSpec:
    hosts: tuple[str, ...]
    fields: dict[str, tuple[str, ...]]  # secret field -> auth locations; () = never sent out
    host_fields: tuple[str, ...] = ()  # config fields naming the channel's own server (URL or host[:port])


# Channel secrets and where PicoClaw's channel clients send them. Fields with no auth
# location (webhook signing secrets, AES keys) are only ever used locally: any outbound
# appearance is a leak.
CHANNELS: dict[str, ChannelSpec] = {
    "telegram": ChannelSpec(("api.telegram.org",), {"token": ("path:/bot", "path:/file/bot")}),
    "discord": ChannelSpec(("discord.com", "*.discord.com", "discordapp.com", "*.discordapp.com",
                            "gateway.discord.gg", "*.discord.gg"),
                           {"token": (AUTHZ, "body_json:d.token")}),  # REST header; gateway IDENTIFY
    "slack": ChannelSpec(("slack.com", "*.slack.com"), {"bot_token": (AUTHZ,), "app_token": (AUTHZ,)}),
    "feishu": ChannelSpec(("open.feishu.cn", "open.larksuite.com"),
                          {"app_secret": ("body_json:app_secret",), "encrypt_key": (), "verification_token": ()}),
    "qq": ChannelSpec(("bots.qq.com", "api.sgroup.qq.com"), {"app_secret": ("body_json:clientSecret",)}),
    "dingtalk": ChannelSpec(("api.dingtalk.com", "oapi.dingtalk.com"),
                            {"client_secret": ("body_json:appSecret", "query:appsecret")}),
    "matrix": ChannelSpec((), {"access_token": (AUTHZ, "query:access_token")}, ("homeserver",)),
    "line": ChannelSpec(("api.line.me", "api-data.line.me"),
                        {"channel_access_token": (AUTHZ,), "channel_secret": ()}),
    "onebot": ChannelSpec((), {"access_token": (AUTHZ, "query:access_token")}, ("ws_url",)),
    "wecom": ChannelSpec(("qyapi.weixin.qq.com",), {"token": (), "encoding_aes_key": ()}),
    "wecom_app": ChannelSpec(("qyapi.weixin.qq.com",),
                             {"corp_secret": ("query:corpsecret",), "token": (), "encoding_aes_key": ()}),
    "wecom_aibot": ChannelSpec(("qyapi.weixin.qq.com", "*.work.weixin.qq.com"),
                               {"secret": (ANYWHERE,), "token": (), "encoding_aes_key": ()}),
    "weixin": ChannelSpec(("*.weixin.qq.com",), {"token": (AUTHZ, ANYWHERE)}),
    "pico": ChannelSpec((), {"token": ()}),  # PicoClaw's own inbound channel: clients present it to us
    "irc": ChannelSpec((), {"password": (ANYWHERE,), "nickserv_password": (ANYWHERE,),
                            "sasl_password": (ANYWHERE,)}, ("server",)),
}

# Web search tools: config.json tools.web.<name>, .security.yml web.<name>.
WEB_TOOLS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "brave": (("api.search.brave.com",), ("header:x-subscription-token",)),
    "tavily": (("api.tavily.com",), (AUTHZ, "body_json:api_key")),
    "perplexity": (("api.perplexity.ai",), (AUTHZ,)),
    "glm_search": (("open.bigmodel.cn",), (AUTHZ,)),
    "baidu_search": (("qianfan.baidubce.com",), (AUTHZ, "header:x-appbuilder-authorization")),
    "exa": (("api.exa.ai",), ("header:x-api-key", AUTHZ)),
    "firecrawl": (("api.firecrawl.dev",), (AUTHZ,)),
    "duckduckgo": (("duckduckgo.com", "html.duckduckgo.com", "lite.duckduckgo.com"), ()),
}

GITHUB_HOSTS = ("github.com", "api.github.com", "uploads.github.com", "*.githubusercontent.com")
SKILL_REGISTRIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "github": (GITHUB_HOSTS, (AUTHZ,)),
    "clawhub": (("clawhub.ai", "*.clawhub.ai"), (AUTHZ,)),
}
