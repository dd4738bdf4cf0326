"""A full PicoClaw v3 home, generated per test, and the normal calls PicoClaw makes with each secret.

Every model protocol, channel type, web tool, voice, skill registry, MCP server and
auth.json credential current PicoClaw has (sipeed/picoclaw; SPEC.md section 12 names the
files), with secrets in both config.json and .security.yml, one `file://` value, one
`enc://` value (encrypted here in PicoClaw's format, opened with the passphrase and SSH key
in `env`) and one PICOCLAW_* variable. `calls` is what PicoClaw sends with each secret:
its real host, path and auth location, websocket frames where the channel uses them.
Secrets that never leave (webhook signing keys, raw TCP channels) have no call.
Every value is generated at test time (fakes.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets as random_bytes
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import fakes

# model protocol -> (its default host, the path PicoClaw posts to, the header its client puts the key in)
HTTP_MODELS = {
    "openai": ("api.openai.com", "/v1/chat/completions", "authorization"),
    "anthropic": ("api.anthropic.com", "/v1/chat/completions", "authorization"),
    "anthropic-messages": ("api.anthropic.com", "/v1/messages", "x-api-key"),
    "alibaba-coding-anthropic": ("coding-intl.dashscope.aliyuncs.com", "/apps/anthropic/v1/messages", "x-api-key"),
    "gemini": ("generativelanguage.googleapis.com", "/v1beta/models/gemini-3-flash:generateContent",
               "x-goog-api-key"),
    "azure": ("myres.openai.azure.com", "/openai/deployments/gpt/chat/completions", "authorization"),
    "deepseek": ("api.deepseek.com", "/v1/chat/completions", "authorization"),
    "openrouter": ("openrouter.ai", "/api/v1/chat/completions", "authorization"),
    "qwen-portal": ("dashscope.aliyuncs.com", "/compatible-mode/v1/chat/completions", "authorization"),
    "qwen-intl": ("dashscope-intl.aliyuncs.com", "/compatible-mode/v1/chat/completions", "authorization"),
    "qwen-us": ("dashscope-us.aliyuncs.com", "/compatible-mode/v1/chat/completions", "authorization"),
    "moonshot": ("api.moonshot.cn", "/v1/chat/completions", "authorization"),
    "volcengine": ("ark.cn-beijing.volces.com", "/api/v3/chat/completions", "authorization"),
    "zhipu": ("open.bigmodel.cn", "/api/paas/v4/chat/completions", "authorization"),
    "groq": ("api.groq.com", "/openai/v1/chat/completions", "authorization"),
    "mistral": ("api.mistral.ai", "/v1/chat/completions", "authorization"),
    "nvidia": ("integrate.api.nvidia.com", "/v1/chat/completions", "authorization"),
    "cerebras": ("api.cerebras.ai", "/v1/chat/completions", "authorization"),
    "venice": ("api.venice.ai", "/api/v1/chat/completions", "authorization"),
    "shengsuanyun": ("router.shengsuanyun.com", "/api/v1/chat/completions", "authorization"),
    "siliconflow": ("api.siliconflow.cn", "/v1/chat/completions", "authorization"),
    "vivgrid": ("api.vivgrid.com", "/v1/chat/completions", "authorization"),
    "minimax": ("api.minimaxi.com", "/v1/chat/completions", "authorization"),
    "longcat": ("api.longcat.chat", "/openai/chat/completions", "authorization"),
    "modelscope": ("api-inference.modelscope.cn", "/v1/chat/completions", "authorization"),
    "mimo": ("api.xiaomimimo.com", "/v1/chat/completions", "authorization"),
    "avian": ("api.avian.io", "/v1/chat/completions", "authorization"),
    "zai": ("api.z.ai", "/api/coding/paas/v4/chat/completions", "authorization"),
    "alibaba-coding": ("coding-intl.dashscope.aliyuncs.com", "/v1/chat/completions", "authorization"),
    "novita": ("api.novita.ai", "/openai/chat/completions", "authorization"),
    "elevenlabs": ("api.elevenlabs.io", "/v1/speech-to-text", "xi-api-key"),
}
LOCAL_MODELS = ("ollama", "vllm", "lmstudio", "litellm", "gpt4free")  # loopback: Go never proxies these
KEYLESS_MODELS = (("bedrock", "bedrock/anthropic.claude-sonnet-4"), ("github-copilot", "github-copilot/gpt-5.4"),
                  ("antigravity", "antigravity/gemini-3-pro"), ("claude-cli", "claude-cli/sonnet"),
                  ("codex-cli", "codex-cli/gpt-5.4"))
CONFIG_JSON_MODELS = ("deepseek", "azure")  # keys left in config.json; the rest sit in .security.yml
FILE_MODEL, ENC_MODEL = "groq", "mistral"  # .security.yml holds file:// and enc:// for these
CUSTOM_HEADER_MODEL = "openrouter"
ENV_WEB_TOOL = "perplexity"  # its key comes from PICOCLAW_TOOLS_WEB_PERPLEXITY_API_KEYS


@dataclass
class Call:
    """One request PicoClaw makes: url is https://host/path (the live test serves it on a local port)."""

    owner: str
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    frames: list[str] | None = None  # a websocket: messages sent after the upgrade

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    def to_dict(self) -> dict:
        return {"owner": self.owner, "method": self.method, "url": self.url, "headers": self.headers,
                "body": self.body, "frames": self.frames}


@dataclass
class V3Home:
    home: Path
    owners: dict[str, str]  # secret value -> owner
    calls: list[Call]
    env: dict[str, str]  # the gateway's environment: enc:// key material and one PICOCLAW_* variable
    never_sent: set[str]  # owners whose secrets PicoClaw uses only locally or over raw TCP

    @property
    def values(self) -> list[str]:
        return list(self.owners)

    @property
    def hosts(self) -> set[str]:
        return {call.host for call in self.calls}


def picoclaw_encrypt(passphrase: str, ssh_key: bytes, plaintext: str) -> str:
    """An enc:// value as PicoClaw writes it (pkg/credential/credential.go), for the fixture only."""
    from cryptography.hazmat.primitives import hashes, hmac
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    salt, nonce = random_bytes.token_bytes(16), random_bytes.token_bytes(12)
    mac = hmac.HMAC(hashlib.sha256(ssh_key).digest(), hashes.SHA256())
    mac.update(passphrase.encode())
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"picoclaw-credential-v1").derive(
        mac.finalize())
    blob = salt + nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), None)
    return "enc://" + base64.b64encode(blob).decode()


def _chat() -> str:
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": "hello"}]})


def _auth_value(header: str, key: str) -> str:
    return f"Bearer {key}" if header == "authorization" else key


def write_v3_home(home: Path) -> V3Home:  # noqa: C901 - one table-shaped builder, read top to bottom
    home.mkdir(parents=True, exist_ok=True)
    owners: dict[str, str] = {}
    calls: list[Call] = []
    never_sent: set[str] = set()

    def secret(owner: str, value: str | None = None) -> str:
        value = value or fakes.opaque_secret(40)
        owners[value] = owner
        return value

    passphrase = fakes.opaque_secret(24)
    ssh_key = home / "picoclaw_ed25519.key"  # inside PICOCLAW_HOME: a location PicoClaw accepts
    ssh_key.write_bytes(random_bytes.token_bytes(64))
    ssh_key.chmod(0o600)
    env = {"PICOCLAW_KEY_PASSPHRASE": passphrase, "PICOCLAW_SSH_KEY_PATH": str(ssh_key)}

    # -- model_list ----------------------------------------------------------------
    model_list: list[dict] = []
    security_models: dict[str, dict] = {}
    shapes = {"openai": fakes.openai_project_key, "anthropic": fakes.anthropic_key,
              "anthropic-messages": fakes.anthropic_key, "gemini": fakes.google_key,
              "deepseek": fakes.deepseek_key, "openrouter": fakes.openrouter_key, "groq": fakes.groq_key}
    for protocol, (host, path, header) in HTTP_MODELS.items():
        name = f"{protocol}-main"
        key = secret(f"model:{name}", shapes.get(protocol, fakes.opaque_secret)())
        entry = {"model_name": name, "model": f"{protocol}/some-model"}
        if protocol == "azure":
            entry["api_base"] = f"https://{host}"
        if protocol == "alibaba-coding-anthropic":
            entry = {"model_name": name, "provider": "coding-plan-anthropic", "model": "qwen3-coder"}  # an alias
        if protocol in CONFIG_JSON_MODELS:
            entry["api_keys"] = [key]
        elif protocol == FILE_MODEL:
            (home / "groq.key").write_text(key + "\n")
            security_models[f"{name}:0"] = {"api_keys": ["file://groq.key"]}
        elif protocol == ENC_MODEL:
            security_models[f"{name}:0"] = {"api_keys": [picoclaw_encrypt(passphrase, ssh_key.read_bytes(), key)]}
        else:
            security_models[f"{name}:0"] = {"api_keys": [key]}
        headers = {header: _auth_value(header, key), "Content-Type": "application/json"}
        if protocol == CUSTOM_HEADER_MODEL:
            portkey = secret(f"model:{name}")
            entry["custom_headers"] = {"X-Portkey-Api-Key": portkey, "HTTP-Referer": "https://picoclaw.io"}
            headers["X-Portkey-Api-Key"] = portkey
        model_list.append(entry)
        calls.append(Call(f"model:{name}", "POST", f"https://{host}{path}", headers, _chat()))
    mimo_key = next(value for value, owner in owners.items() if owner == "model:mimo-main")
    calls.append(Call("model:mimo-main", "POST", "https://api.xiaomimimo.com/v1/chat/completions",
                      {"Api-Key": mimo_key, "Content-Type": "application/json"}, _chat()))  # its TTS client
    # an unprefixed model is openai's, and `provider` wins over a prefix
    plain = secret("model:plain-gpt")
    model_list.append({"model_name": "plain-gpt", "model": "gpt-5.4"})
    security_models["plain-gpt:0"] = {"api_keys": [plain]}
    calls.append(Call("model:plain-gpt", "POST", "https://api.openai.com/v1/chat/completions",
                      {"Authorization": f"Bearer {plain}"}, _chat()))
    routed = secret("model:routed")
    model_list.append({"model_name": "routed", "provider": "openrouter", "model": "anthropic/claude-opus-4.7"})
    security_models["routed:0"] = {"api_keys": [routed]}
    calls.append(Call("model:routed", "POST", "https://openrouter.ai/api/v1/chat/completions",
                      {"Authorization": f"Bearer {routed}"}, _chat()))
    for protocol in LOCAL_MODELS:
        name = f"{protocol}-local"
        key = secret(f"model:{name}")
        model_list.append({"model_name": name, "model": f"{protocol}/llama"})
        security_models[f"{name}:0"] = {"api_keys": [key]}
    for name, model in KEYLESS_MODELS:
        model_list.append({"model_name": f"{name}-main", "model": model})
    # Codex and Claude through OAuth: the tokens come from auth.json, not from the entry
    model_list.append({"model_name": "codex", "model": "openai/gpt-5.4", "auth_method": "oauth"})
    model_list.append({"model_name": "claude-oauth", "model": "anthropic/claude-opus-4-7", "auth_method": "token"})

    # -- channel_list --------------------------------------------------------------
    channels: dict[str, dict] = {}
    security_channels: dict[str, dict] = {}

    def channel(instance: str, kind: str, settings: dict, secret_settings: dict | None = None) -> None:
        channels[instance] = {"enabled": True, "type": kind, "allow_from": [], "settings": settings}
        if secret_settings:
            security_channels[instance] = {"settings": secret_settings}

    tg = secret("channel:telegram", fakes.telegram_bot_token())
    channel("telegram", "telegram", {"proxy": "", "base_url": ""}, {"token": tg})
    calls.append(Call("channel:telegram", "GET", f"https://api.telegram.org/bot{tg}/getMe"))
    tg2 = secret("channel:work_bot", fakes.telegram_bot_token())  # a second bot: the type decides, not the key
    channel("work_bot", "telegram", {"base_url": "https://tg.relay.example.net"}, {"token": tg2})
    calls.append(Call("channel:work_bot", "POST", f"https://tg.relay.example.net/bot{tg2}/sendMessage",
                      {"Content-Type": "application/json"}, json.dumps({"chat_id": 1, "text": "Done."})))
    dc = secret("channel:discord", fakes.discord_bot_token())
    channel("discord", "discord", {"mention_only": False}, {"token": dc})
    calls.append(Call("channel:discord", "GET", "https://discord.com/api/v10/users/@me",
                      {"Authorization": f"Bot {dc}"}))
    calls.append(Call("channel:discord", "GET", "wss://gateway.discord.gg/?v=10&encoding=json",
                      frames=[json.dumps({"op": 2, "d": {"token": f"Bot {dc}", "intents": 33281,
                                                         "properties": {"os": "linux"}}})]))
    bot, app = secret("channel:slack", fakes.slack_bot_token()), secret("channel:slack")
    channel("slack", "slack", {}, {"bot_token": bot, "app_token": app})
    calls.append(Call("channel:slack", "POST", "https://slack.com/api/chat.postMessage",
                      {"Authorization": f"Bearer {bot}", "Content-Type": "application/json"},
                      json.dumps({"channel": "C1", "text": "Done."})))
    calls.append(Call("channel:slack", "POST", "https://slack.com/api/apps.connections.open",
                      {"Authorization": f"Bearer {app}"}, ""))
    fs = secret("channel:feishu")
    encrypt, verify = secret("channel:feishu"), secret("channel:feishu")
    channel("feishu", "feishu", {"app_id": "cli_a1b2c3"},
            {"app_secret": fs, "encrypt_key": encrypt, "verification_token": verify})
    calls.append(Call("channel:feishu", "POST", "https://open.feishu.cn/open-apis/auth/v3/tenant_access_token/internal",
                      {"Content-Type": "application/json"}, json.dumps({"app_id": "cli_a1b2c3", "app_secret": fs})))
    calls.append(Call("channel:feishu", "POST", "https://open.feishu.cn/callback/ws/endpoint",
                      {"Content-Type": "application/json"}, json.dumps({"AppID": "cli_a1b2c3", "AppSecret": fs})))
    qq = secret("channel:qq")
    channel("qq", "qq", {"app_id": "102030"}, {"app_secret": qq})
    calls.append(Call("channel:qq", "POST", "https://bots.qq.com/app/getAppAccessToken",
                      {"Content-Type": "application/json"}, json.dumps({"appId": "102030", "clientSecret": qq})))
    dt = secret("channel:dingtalk")
    channel("dingtalk", "dingtalk", {"client_id": "dingabc"}, {"client_secret": dt})
    calls.append(Call("channel:dingtalk", "POST", "https://api.dingtalk.com/v1.0/gateway/connections/open",
                      {"Content-Type": "application/json"},
                      json.dumps({"clientId": "dingabc", "clientSecret": dt, "subscriptions": []})))
    mx = secret("channel:matrix")
    crypto = secret("channel:matrix")  # config.json, plain: only unlocks the local crypto store
    channel("matrix", "matrix", {"homeserver": "https://matrix.example.org", "user_id": "@bot:example.org",
                                 "crypto_passphrase": crypto}, {"access_token": mx})
    calls.append(Call("channel:matrix", "GET", "https://matrix.example.org/_matrix/client/v3/account/whoami",
                      {"Authorization": f"Bearer {mx}"}))
    line_token, line_secret = secret("channel:line"), secret("channel:line")
    channel("line", "line", {"webhook_port": 18791}, {"channel_access_token": line_token,
                                                      "channel_secret": line_secret})
    calls.append(Call("channel:line", "POST", "https://api.line.me/v2/bot/message/push",
                      {"Authorization": f"Bearer {line_token}", "Content-Type": "application/json"},
                      json.dumps({"to": "U1", "messages": []})))
    ob = secret("channel:onebot")
    channel("onebot", "onebot", {"ws_url": "ws://onebot.example.net:6700"}, {"access_token": ob})
    calls.append(Call("channel:onebot", "GET", "wss://onebot.example.net/", {"Authorization": f"Bearer {ob}"},
                      frames=[json.dumps({"action": "get_login_info", "echo": "1"})]))
    wc = secret("channel:wecom")
    channel("wecom", "wecom", {"bot_id": "aibot1"}, {"secret": wc})
    calls.append(Call("channel:wecom", "GET", "wss://openws.work.weixin.qq.com/", frames=[json.dumps(
        {"cmd": "aibot_subscribe", "headers": {"req_id": "r1"}, "body": {"bot_id": "aibot1", "secret": wc}})]))
    wx = secret("channel:weixin")
    channel("weixin", "weixin", {"account_id": "wx1"}, {"token": wx})
    calls.append(Call("channel:weixin", "POST", "https://ilinkai.weixin.qq.com/ilink/bot/getupdates",
                      {"AuthorizationType": "ilink_bot_token", "Authorization": f"Bearer {wx}"}, "{}"))
    pico = secret("channel:pico")
    channel("pico", "pico", {}, {"token": pico})
    pc = secret("channel:pico_client")
    channel("pico_client", "pico_client", {"url": "wss://hub.pico.example.net/ws"}, {"token": pc})
    calls.append(Call("channel:pico_client", "GET", "wss://hub.pico.example.net/ws", {"Authorization": f"Bearer {pc}"},
                      frames=[json.dumps({"type": "ping"})]))
    irc = secret("channel:irc")
    channel("irc", "irc", {"server": "irc.libera.chat:6697", "tls": True, "nick": "picobot"},
            {"password": irc, "sasl_password": secret("channel:irc")})
    vk = secret("channel:vk")
    channel("vk", "vk", {"group_id": 1}, {"token": vk})
    calls.append(Call("channel:vk", "POST", "https://api.vk.com/method/groups.getLongPollServer",
                      {"Content-Type": "application/x-www-form-urlencoded"},
                      urlencode({"group_id": "1", "access_token": vk, "v": "5.199"})))
    channel("mqtt", "mqtt", {"broker": "tcp://broker.example.net:1883", "agent_id": "pico"},
            {"username": secret("channel:mqtt"), "password": secret("channel:mqtt")})
    # a webhook URL is its own credential: the part after the host is what is watched
    teams = f"https://contoso.webhook.office.com/webhookb2/{fakes.opaque_secret(48)}"
    secret("channel:teams", urlsplit(teams).path)
    secret("channel:teams", urlsplit(teams).path.rsplit("/", 1)[-1])  # its token part, watched alone too
    channel("teams", "teams_webhook", {"webhooks": {"alerts": {"title": "PicoClaw"}}},
            {"webhooks": {"alerts": {"webhook_url": teams}}})
    calls.append(Call("channel:teams", "POST", teams, {"Content-Type": "application/json"}, json.dumps({"text": "hi"})))
    slack_hook = fakes.slack_webhook_url()
    secret("channel:slack_alerts", urlsplit(slack_hook).path)
    secret("channel:slack_alerts", urlsplit(slack_hook).path.rsplit("/", 1)[-1])
    channel("slack_alerts", "slack_webhook", {"webhooks": {"ops": {"username": "pico"}}},
            {"webhooks": {"ops": {"webhook_url": slack_hook}}})
    calls.append(Call("channel:slack_alerts", "POST", slack_hook, {"Content-Type": "application/json"},
                      json.dumps({"text": "hi"})))
    channel("maixcam", "maixcam", {"host": "0.0.0.0", "port": 18790})
    channel("whatsapp", "whatsapp", {"bridge_url": "ws://localhost:3001"})
    never_sent.update({"channel:pico", "channel:irc", "channel:mqtt"})

    # -- tools ---------------------------------------------------------------------
    web_security: dict[str, dict] = {}
    brave = secret("web:brave", fakes.brave_search_key())
    web_security["brave"] = {"api_keys": [brave]}
    calls.append(Call("web:brave", "GET", "https://api.search.brave.com/res/v1/web/search?q=picoclaw&count=5",
                      {"X-Subscription-Token": brave, "Accept": "application/json"}))
    tavily = secret("web:tavily", fakes.tavily_key())
    web_security["tavily"] = {"api_keys": [tavily]}
    calls.append(Call("web:tavily", "POST", "https://api.tavily.com/search", {"Content-Type": "application/json"},
                      json.dumps({"api_key": tavily, "query": "picoclaw", "max_results": 5})))
    kagi = secret("web:kagi")
    web_security["kagi"] = {"api_keys": [kagi]}
    calls.append(Call("web:kagi", "GET", "https://kagi.com/api/v1/search?q=picoclaw",
                      {"Authorization": f"Bearer {kagi}"}))
    perplexity = secret("web:perplexity", fakes.perplexity_key())
    env["PICOCLAW_TOOLS_WEB_PERPLEXITY_API_KEYS"] = perplexity
    calls.append(Call("web:perplexity", "POST", "https://api.perplexity.ai/chat/completions",
                      {"Authorization": f"Bearer {perplexity}", "Content-Type": "application/json"}, _chat()))
    gemini = secret("web:gemini", fakes.google_key())
    web_security["gemini"] = {"api_key": gemini}
    calls.append(Call("web:gemini", "POST",
                      "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
                      {"X-Goog-Api-Key": gemini, "Content-Type": "application/json"}, "{}"))
    glm = secret("web:glm_search")
    web_security["glm_search"] = {"api_key": glm}
    calls.append(Call("web:glm_search", "POST", "https://open.bigmodel.cn/api/paas/v4/web_search",
                      {"Authorization": f"Bearer {glm}", "Content-Type": "application/json"}, "{}"))
    baidu = secret("web:baidu_search")
    web_security["baidu_search"] = {"api_key": baidu}
    calls.append(Call("web:baidu_search", "POST", "https://qianfan.baidubce.com/v2/ai_search/web_search",
                      {"Authorization": f"Bearer {baidu}", "Content-Type": "application/json"}, "{}"))
    calls.append(Call("web:searxng", "GET", "https://searx.example.net/search?q=picoclaw&format=json"))
    calls.append(Call("web:sogou", "GET", "https://wap.sogou.com/web/searchList.jsp?keyword=picoclaw"))
    calls.append(Call("web:duckduckgo", "GET", "https://html.duckduckgo.com/html/?q=picoclaw"))
    web = {name: {"enabled": True, "max_results": 5} for name in
           ("brave", "tavily", "kagi", "perplexity", "gemini", "glm_search", "baidu_search", "sogou", "duckduckgo")}
    web["searxng"] = {"enabled": True, "base_url": "https://searx.example.net"}

    clawhub = secret("skill:clawhub")
    calls.append(Call("skill:clawhub", "GET", "https://clawhub.ai/api/v1/search?q=weather",
                      {"Authorization": f"Bearer {clawhub}"}))
    github = secret("skill:github", fakes.github_token())
    calls.append(Call("skill:github", "GET", "https://api.github.com/search/code?q=SKILL.md",
                      {"Authorization": f"Bearer {github}", "Accept": "application/vnd.github+json"}))

    mcp_header = secret("mcp:notes")
    mcp_env = secret("mcp:gh", fakes.github_token())
    mcp = {"enabled": True, "servers": {
        "notes": {"enabled": True, "type": "http", "url": "https://mcp.notes.example.net/mcp",
                  "headers": {"Authorization": f"Bearer {mcp_header}"}},
        "gh": {"enabled": True, "command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
               "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": mcp_env}},
    }}
    calls.append(Call("mcp:notes", "POST", "https://mcp.notes.example.net/mcp",
                      {"Authorization": f"Bearer {mcp_header}", "Content-Type": "application/json"},
                      json.dumps({"jsonrpc": "2.0", "method": "tools/list", "id": 1})))
    calls.append(Call("mcp:gh", "GET", "https://api.github.com/user", {"Authorization": f"Bearer {mcp_env}"}))

    eleven = secret("voice:elevenlabs")
    calls.append(Call("voice:elevenlabs", "POST", "https://api.elevenlabs.io/v1/speech-to-text",
                      {"Xi-Api-Key": eleven, "Content-Type": "multipart/form-data; boundary=x"}, "--x--"))

    # -- auth.json -----------------------------------------------------------------
    codex_access, codex_refresh = secret("auth:openai", fakes.jwt()), secret("auth:openai")
    claude_access = secret("auth:anthropic")
    google_access = secret("auth:google-antigravity")
    auth = {"credentials": {
        "openai": {"access_token": codex_access, "refresh_token": codex_refresh, "provider": "openai",
                   "auth_method": "oauth", "account_id": "acct_1"},
        "anthropic": {"access_token": claude_access, "provider": "anthropic", "auth_method": "token"},
        "google-antigravity": {"access_token": google_access, "provider": "google-antigravity",
                               "auth_method": "oauth"},
    }}
    calls.append(Call("auth:openai", "POST", "https://chatgpt.com/backend-api/codex/responses",
                      {"Authorization": f"Bearer {codex_access}", "Content-Type": "application/json"}, "{}"))
    calls.append(Call("auth:openai", "POST", "https://auth.openai.com/oauth/token",
                      {"Content-Type": "application/x-www-form-urlencoded"},
                      urlencode({"grant_type": "refresh_token", "refresh_token": codex_refresh,
                                 "client_id": "app_x"})))
    calls.append(Call("auth:anthropic", "POST", "https://api.anthropic.com/v1/messages",
                      {"Authorization": f"Bearer {claude_access}", "Content-Type": "application/json"}, _chat()))
    calls.append(Call("auth:google-antigravity", "POST",
                      "https://cloudcode-pa.googleapis.com/v1internal:streamGenerateContent?alt=sse",
                      {"Authorization": f"Bearer {google_access}", "Content-Type": "application/json"}, "{}"))

    config = {
        "version": 3,
        "agents": {"defaults": {"workspace": str(home / "workspace"), "model_name": "openai-main"}},
        "model_list": model_list,
        "channel_list": channels,
        "tools": {"web": web, "mcp": mcp, "skills": {"enabled": True, "registries": {
            "clawhub": {"enabled": True, "base_url": "https://clawhub.ai"},
            "github": {"enabled": True, "base_url": "https://github.com"},
        }}},
        "voice": {"model_name": "elevenlabs-main", "elevenlabs_api_key": eleven},
        "gateway": {"host": "127.0.0.1", "port": 18790},
    }
    security = {"model_list": security_models, "channel_list": security_channels, "web": web_security,
                "skills": {"github": {"token": github}, "registries": {"clawhub": {"auth_token": clawhub}}}}
    (home / "config.json").write_text(json.dumps(config, indent=2))
    (home / ".security.yml").write_text("# generated by the test suite\n" + to_yaml(security))
    (home / "auth.json").write_text(json.dumps(auth, indent=2))
    for name in ("config.json", ".security.yml", "auth.json", "groq.key"):
        os.chmod(home / name, 0o600)
    return V3Home(home, owners, calls, env, never_sent)


def to_yaml(node, indent: int = 0) -> str:
    """Block YAML of nested dicts and lists of strings, as PicoClaw writes .security.yml."""
    lines: list[str] = []
    pad = "  " * indent
    for key, value in node.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:" + (" {}" if not value else ""))
            if value:
                lines.append(to_yaml(value, indent + 1).rstrip("\n"))
        elif isinstance(value, list):
            lines.append(f"{pad}{key}:")
            lines.extend(f"{pad}  - {json.dumps(item)}" for item in value)
        else:
            lines.append(f"{pad}{key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"
