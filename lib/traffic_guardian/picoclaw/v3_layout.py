"""PicoClaw's config schema v3 (pkg/config/config.go CurrentVersion = 3), read field by field.

config.json holds the structure: `model_list[]`, `channel_list.<instance>` ({enabled, type,
settings}), `tools.web.<tool>`, `tools.skills.{registries,github}`, `tools.mcp.servers`,
`voice`. .security.yml holds the secrets in the same shape (PicoClaw decodes it into the
same structure: the tools section sits at its top level): `model_list."<model_name>:<i>"`,
`channel_list.<instance>.settings.<field>` (also `channels:`), `web.<tool>.api_keys|api_key`,
`skills.registries.<name>.auth_token`, `skills.github.token`. A channel's *type* decides
where its secrets go; the instance key is only a name (two Telegram bots are two instances).
Environment overrides (env_overrides.py) apply after both files.

Every secret gets its binding from bindings.py; every place PicoClaw sends traffic becomes
an EgressPath for the coverage report. Values go to the collector only.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from traffic_guardian.detect.providers import UNBOUND, Binding
from traffic_guardian.picoclaw import env_overrides
from traffic_guardian.picoclaw.bindings import (
    AUTH_PROVIDERS,
    AUTHZ,
    CHANNELS,
    GITHUB_HOSTS,
    LEGACY_CHANNELS,
    OAUTH_METHODS,
    PROTOCOLS,
    SKILL_REGISTRIES,
    VOICE_ELEVENLABS,
    WEB_TOOLS,
    ChannelSpec,
    WebTool,
    model_protocol,
)
from traffic_guardian.picoclaw.egress_paths import EgressPath, host_of
from traffic_guardian.picoclaw.secret_fields import SecretCollector, is_secret_field, looks_secret

CONFIG_FILE = "config.json"
SECURITY_FILE = ".security.yml"
AUTH_FILE = "auth.json"
_INDEXED_NAME = re.compile(r"^(?P<name>.+):(?P<index>\d+)$")
VOICE_BINDING = Binding(VOICE_ELEVENLABS.hosts, VOICE_ELEVENLABS.auth)
WEBHOOK_TOKEN_MIN_CHARS = 16  # a webhook path's last segment watched on its own from this length


def as_dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value) -> list:
    return value if isinstance(value, list) else []


def unique_hosts(hosts) -> tuple[str, ...]:
    return tuple(dict.fromkeys(h for h in hosts if h))


def channel_spec(channel_type: str) -> ChannelSpec | None:
    """The current type's spec; the names only v0-v2 files have (wecom_app, wecom_aibot) as legacy."""
    return CHANNELS.get(channel_type) or LEGACY_CHANNELS.get(channel_type)


def enabled(section: dict, default: bool = True) -> bool:
    value = section.get("enabled", default)
    return value is not False


class V3Reader:
    """Reads one PicoClaw home's v3 files into a SecretCollector, egress hosts and egress paths."""

    def __init__(self, config: dict, security: dict, collector: SecretCollector, env: dict[str, str]):
        self.config = config
        self.security = security
        self.collector = collector
        self.env = env
        self.egress_hosts: set[str] = set()
        self.paths: list[EgressPath] = []
        self.webhook_hosts: dict[str, list[str]] = {}  # webhook channel instance -> its URLs' hosts
        self.consumed: dict[str, set[tuple]] = {CONFIG_FILE: set(), SECURITY_FILE: set()}
        self.models = [e for e in as_list(config.get("model_list")) if isinstance(e, dict)]
        self.channels = {str(k): v for k, v in as_dict(config.get("channel_list")).items() if isinstance(v, dict)}
        tools = as_dict(config.get("tools"))
        self.web = as_dict(tools.get("web"))
        self.skills = as_dict(tools.get("skills"))
        self.mcp = as_dict(tools.get("mcp"))
        self.overrides = env_overrides.overrides(env)

    def read(self) -> None:
        """Every section, files first, then the PICOCLAW_* variables that override them."""
        self.read_models()
        self.read_channels()
        self.read_web_tools()
        self.read_voice()
        self.read_skills()
        self.read_mcp()
        self.read_environment()

    def add(self, value, owner: str, kind: str, source: str, binding: Binding, where: tuple = ()) -> None:
        self.collector.add(value, owner, kind, source, binding)
        if where and source in self.consumed:
            self.consumed[source].add(where)

    def override(self, section: str, name: str, field_name: str) -> str | None:
        """The non-secret value an environment variable sets for this field (base_url, proxy...)."""
        for _variable, spec, values in self.overrides:
            if (spec.section, spec.field) == (section, field_name) and spec.name in (name, "*") and not spec.secret:
                return values[0] if values else None
        return None

    # -- model_list -----------------------------------------------------------------

    def model_binding(self, entry: dict) -> Binding:
        protocol = PROTOCOLS.get(model_protocol(entry))
        base = entry.get("api_base")
        host = host_of(base) if isinstance(base, str) and ("." in base or "://" in base or ":" in base) else None
        hosts = (host,) if host else (protocol.hosts if protocol else ())
        auth = protocol.auth if protocol else (AUTHZ,)
        return Binding(unique_hosts(hosts), auth)

    def read_models(self) -> None:
        for index, entry in enumerate(self.models):
            name = str(entry.get("model_name") or entry.get("model") or f"#{index}")
            protocol_name = model_protocol(entry)
            binding = self.model_binding(entry)
            oauth = str(entry.get("auth_method", "")).lower() in OAUTH_METHODS
            for key in ("api_key", "api_keys"):  # v0-v2 left them here; v3 writes them to .security.yml
                self.add(entry.get(key), f"model:{name}", "model_api_key", CONFIG_FILE, binding,
                         ("model_list", index, key))
            for header, value in as_dict(entry.get("custom_headers")).items():
                if isinstance(value, str) and (is_secret_field(str(header)) or looks_secret(value)):
                    self.add(value, f"model:{name}", "model_api_key", CONFIG_FILE,
                             Binding(binding.hosts, (f"header:{str(header).lower()}",)),
                             ("model_list", index, "custom_headers", header))
            self.consumed[CONFIG_FILE].add(("model_list", index, "custom_headers"))
            if entry.get("enabled") is False:
                continue
            self.egress_hosts.update(binding.hosts)
            transport = "cli" if protocol_name in ("claude-cli", "codex-cli") else \
                "local" if protocol_name == "github-copilot" else "http"
            if oauth and protocol_name in ("openai", "anthropic"):
                hosts = AUTH_PROVIDERS["openai" if protocol_name == "openai" else "anthropic"][0]
                self.egress_hosts.update(hosts)
            else:
                hosts = binding.hosts
            self.paths.append(EgressPath(f"model:{name}", f"model_list[{index}]", hosts, transport,
                                         str(entry.get("proxy") or ""), f"model_list[{index}].proxy",
                                         protocol_name if transport == "cli" else ""))
        for key, entry in as_dict(self.security.get("model_list")).items():
            key = str(key)
            match = _INDEXED_NAME.match(key)
            base = match.group("name") if match else key
            entries = [e for e in self.models if str(e.get("model_name", "")) == base]
            if match:
                index = int(match.group("index"))
                entries = entries[index:index + 1]
            bindings = [self.model_binding(e) for e in entries]
            binding = Binding(unique_hosts(h for b in bindings for h in b.hosts),
                              tuple(dict.fromkeys(a for b in bindings for a in b.auth))) if entries else UNBOUND
            for field_name in ("api_keys", "api_key"):
                self.add(as_dict(entry).get(field_name), f"model:{base}", "model_api_key", SECURITY_FILE, binding,
                         ("model_list", key, field_name))

    # -- channel_list ---------------------------------------------------------------

    def channel_type(self, instance: str) -> str:
        channel = self.channels.get(instance, {})
        kind = channel.get("type")
        return str(kind) if isinstance(kind, str) and kind else instance

    def channel_setting(self, instance: str, channel_type: str, field_name: str):
        value = self.override("channel", channel_type, field_name)
        if value is not None:
            return value
        return as_dict(self.channels.get(instance, {}).get("settings")).get(field_name)

    def channel_hosts(self, instance: str, spec: ChannelSpec, channel_type: str) -> tuple[str, ...]:
        own = [host_of(self.channel_setting(instance, channel_type, key)) for key in spec.host_fields]
        if channel_type == "weixin":
            own_cdn = host_of(self.channel_setting(instance, channel_type, "cdn_base_url"))
            extra = (own_cdn,) if own_cdn else spec.extra_hosts
        else:
            extra = spec.extra_hosts
        hosts = [h for h in own if h] or list(spec.hosts)
        return unique_hosts([*hosts, *extra])

    def channel_binding(self, instance: str, channel_type: str, field_name: str) -> Binding:
        spec = channel_spec(channel_type)
        if spec is None or not spec.fields.get(field_name):
            return UNBOUND
        return Binding(self.channel_hosts(instance, spec, channel_type), spec.fields[field_name])

    def read_channels(self) -> None:
        for instance, channel in self.channels.items():
            channel_type = self.channel_type(instance)
            spec = channel_spec(channel_type)
            settings = as_dict(channel.get("settings"))
            for field_name, value in settings.items():
                if spec is not None and field_name in spec.fields:
                    self.add(value, f"channel:{instance}", "channel_secret", CONFIG_FILE,
                             self.channel_binding(instance, channel_type, field_name),
                             ("channel_list", instance, "settings", field_name))
            if spec is not None and spec.webhook_urls:
                self.read_webhooks(instance, settings, CONFIG_FILE, ("channel_list", instance, "settings"))
        for section in ("channel_list", "channels"):
            for instance, channel in as_dict(self.security.get(section)).items():
                instance = str(instance)
                channel_type = self.channel_type(instance)
                channel = as_dict(channel)
                nested = as_dict(channel.get("settings"))
                # v3 nests the fields under settings; older files wrote them flat: read both
                fields = {**{k: v for k, v in channel.items() if k != "settings"}, **nested}
                for field_name, value in fields.items():
                    where = (section, instance, "settings", field_name) if field_name in nested \
                        else (section, instance, field_name)
                    if field_name == "webhooks":
                        self.read_webhooks(instance, fields, SECURITY_FILE, where[:-1])
                        continue
                    self.add(value, f"channel:{instance}", "channel_secret", SECURITY_FILE,
                             self.channel_binding(instance, channel_type, field_name), where)
        for instance, channel in self.channels.items():
            self.channel_path(instance, channel)

    def channel_path(self, instance: str, channel: dict) -> None:
        """The enabled channel's egress: its hosts (a webhook channel's are its URLs' hosts) and transport."""
        channel_type = self.channel_type(instance)
        spec = channel_spec(channel_type)
        if spec is None or not enabled(channel, default=False) or spec.transport == "inbound":
            return
        hosts = unique_hosts(self.webhook_hosts.get(instance, ())) if spec.webhook_urls else \
            self.channel_hosts(instance, spec, channel_type)
        self.egress_hosts.update(hosts)
        proxy = self.channel_setting(instance, channel_type, "proxy") if spec.proxy_field else ""
        self.paths.append(EgressPath(f"channel:{instance}", f"channel_list.{instance}", hosts, spec.transport,
                                     str(proxy or ""), f"channel_list.{instance}.settings.proxy"))
        if channel_type == "discord":  # discordgo voice connections (pkg/channels/discord/voice.go): RTP over UDP
            self.paths.append(EgressPath(f"channel:{instance}", f"channel_list.{instance} (voice)",
                                         ("discord voice servers",), "udp"))

    def read_webhooks(self, instance: str, settings: dict, source: str, where: tuple) -> None:
        """teams_webhook / slack_webhook: a webhook URL is its own credential. What is watched is
        its path and query (the host is public), expected only in the URL of a request to its host."""
        for target_name, target in as_dict(settings.get("webhooks")).items():
            url = as_dict(target).get("webhook_url")
            if not isinstance(url, str) or not url.strip():
                continue
            owner = f"channel:{instance}"
            resolved = self.collector.resolve(url.strip(), owner, "channel_secret", source)
            parts = urlsplit(resolved) if resolved and "://" in resolved else None
            if parts is None or not parts.hostname:
                self.add(url, owner, "channel_secret", source, UNBOUND)  # not a URL: watch it whole
                continue
            credential = parts.path + (f"?{parts.query}" if parts.query else "")
            binding = Binding((parts.hostname.lower(),), ("url",))
            self.webhook_hosts.setdefault(instance, []).append(parts.hostname.lower())
            self.add(credential, owner, "channel_secret", source, binding,
                     (*where, "webhooks", target_name, "webhook_url"))
            # the path's last segment is the token part (Slack's 24 characters, Teams' signature):
            # leaked alone it is still this webhook's secret; inside the whole path it is one use
            token = parts.path.rstrip("/").rsplit("/", 1)[-1]
            if len(token) >= WEBHOOK_TOKEN_MIN_CHARS:
                self.add(token, owner, "channel_secret", source, binding)

    # -- tools.web, voice, skills -----------------------------------------------------

    def tool_hosts(self, tool: WebTool, section: str, name: str, settings: dict) -> tuple[str, ...]:
        base = self.override(section, name, "base_url") or settings.get("base_url")
        host = host_of(base) if tool.base_url else None
        return (host,) if host else tool.hosts

    def web_binding(self, name: str) -> Binding:
        """A web tool's binding: its hosts (base_url or variable replacing the default) and auth location."""
        tool = WEB_TOOLS.get(name)
        if tool is None:
            return UNBOUND
        return Binding(self.tool_hosts(tool, "web", name, as_dict(self.web.get(name))), tool.auth)

    def read_web_tools(self) -> None:
        proxy = self.override("web", "*", "proxy") or self.web.get("proxy") or ""
        for name, settings in self.web.items():
            if name not in WEB_TOOLS or not isinstance(settings, dict):
                continue
            binding = self.web_binding(name)
            for key in ("api_key", "api_keys"):
                self.add(settings.get(key), f"web:{name}", "web_tool_key", CONFIG_FILE, binding,
                         ("tools", "web", name, key))
            if enabled(settings, default=False):
                self.egress_hosts.update(binding.hosts)
                self.paths.append(EgressPath(f"web:{name}", f"tools.web.{name}", binding.hosts, "http", str(proxy),
                                             "tools.web.proxy"))
        for name, settings in as_dict(self.security.get("web")).items():
            binding = self.web_binding(str(name))
            for field_name, value in as_dict(settings).items():
                self.add(value, f"web:{name}", "web_tool_key", SECURITY_FILE, binding, ("web", name, field_name))

    def read_voice(self) -> None:
        voice = as_dict(self.config.get("voice"))
        self.add(voice.get("elevenlabs_api_key"), "voice:elevenlabs", "voice_key", CONFIG_FILE, VOICE_BINDING,
                 ("voice", "elevenlabs_api_key"))
        if isinstance(voice.get("elevenlabs_api_key"), str) and voice["elevenlabs_api_key"].strip():
            self.egress_hosts.update(VOICE_BINDING.hosts)

    def registries(self) -> dict[str, dict]:
        """tools.skills.registries as name -> settings (PicoClaw accepts a list with `name` or a map)."""
        raw = self.skills.get("registries")
        if isinstance(raw, list):
            return {str(item.get("name")): item for item in raw if isinstance(item, dict) and item.get("name")}
        return {str(k): v for k, v in as_dict(raw).items() if isinstance(v, dict)}

    def registry_binding(self, name: str) -> Binding:
        """A registry's binding: its base_url host (for github, tools.skills.github.base_url wins), else the default."""
        settings = dict(self.registries().get(name, {}))
        github_base = as_dict(self.skills.get("github")).get("base_url")
        if name == "github" and github_base:
            settings["base_url"] = github_base
        tool = SKILL_REGISTRIES.get(name)
        if tool is None:
            host = host_of(settings.get("base_url"))
            return Binding((host,), (AUTHZ,)) if host else UNBOUND
        hosts = self.tool_hosts(tool, "skill", name, settings)
        if name == "github" and hosts == ("github.com",):
            hosts = GITHUB_HOSTS
        return Binding(hosts, tool.auth)

    def read_skills(self) -> None:
        registries = self.registries()
        if self.config:  # PicoClaw's defaults: clawhub (https://clawhub.ai) and github, both enabled
            for name in ("clawhub", "github"):
                registries.setdefault(name, {"enabled": True})
        github = as_dict(self.skills.get("github"))
        skills_on = enabled(self.skills)
        self.consumed[CONFIG_FILE].add(("tools", "skills", "registries"))  # a map or a list: read just below
        for name, settings in registries.items():
            binding = self.registry_binding(name)
            self.add(settings.get("auth_token"), f"skill:{name}", "skill_token", CONFIG_FILE, binding,
                     ("tools", "skills", "registries", name, "auth_token"))
            if not (skills_on and enabled(settings)):
                continue
            self.egress_hosts.update(binding.hosts)
            transport = "own_transport" if name == "clawhub" else "http"
            proxy = (self.override("skill", "github", "proxy") or github.get("proxy") or "") if name == "github" else ""
            self.paths.append(EgressPath(f"skill:{name}", f"tools.skills.registries.{name}", binding.hosts,
                                         transport, str(proxy), "tools.skills.github.proxy"))
        self.add(github.get("token"), "skill:github", "skill_token", CONFIG_FILE, self.registry_binding("github"),
                 ("tools", "skills", "github", "token"))
        skills = as_dict(self.security.get("skills"))
        for name, settings in as_dict(skills.get("registries")).items():
            binding = self.registry_binding(str(name))
            for field_name, value in as_dict(settings).items():
                self.add(value, f"skill:{name}", "skill_token", SECURITY_FILE, binding,
                         ("skills", "registries", name, field_name))
        for name, settings in skills.items():  # skills.github.token, and the legacy skills.<registry>.<field>
            if name == "registries":
                continue
            binding = self.registry_binding(str(name))
            for field_name, value in as_dict(settings).items():
                self.add(value, f"skill:{name}", "skill_token", SECURITY_FILE, binding, ("skills", name, field_name))

    # -- tools.mcp --------------------------------------------------------------------

    def read_mcp(self) -> None:
        servers = as_dict(self.mcp.get("servers"))
        mcp_on = enabled(self.mcp)
        for name, server in servers.items():
            if not isinstance(server, dict):
                continue
            url_host = host_of(server.get("url"))
            hosts = (url_host,) if url_host else ()
            for header, value in as_dict(server.get("headers")).items():
                self.add(value, f"mcp:{name}", "mcp_credential", CONFIG_FILE,
                         Binding(hosts, (f"header:{str(header).lower()}",)),
                         ("tools", "mcp", "servers", name, "headers", header))
            for variable, value in as_dict(server.get("env")).items():
                # handed to a child process that sends it wherever its own protocol says: bound to
                # nothing here, so a value in a known format falls back to its provider's binding
                if isinstance(value, str) and (is_secret_field(str(variable)) or looks_secret(value)):
                    self.add(value, f"mcp:{name}", "mcp_credential", CONFIG_FILE, UNBOUND,
                             ("tools", "mcp", "servers", name, "env", variable))
            self.consumed[CONFIG_FILE].add(("tools", "mcp", "servers", name, "env"))
            if not (mcp_on and enabled(server)):
                continue
            self.egress_hosts.update(hosts)
            command = str(server.get("command") or "")
            transport = "stdio" if command and not url_host else "http"
            self.paths.append(EgressPath(f"mcp:{name}", f"tools.mcp.servers.{name}", hosts, transport,
                                         command=command))

    # -- PICOCLAW_* environment -------------------------------------------------------

    def read_environment(self) -> None:
        for variable, spec, values in self.overrides:
            if not spec.secret:
                continue
            source = f"env:{variable}"
            if spec.section == "channel":
                # PicoClaw applies these per configured instance (InitChannelList): with no channel of
                # that type the variable is unused, and a bare name like SECRET may well be someone else's
                for instance in [i for i in self.channels if self.channel_type(i) == spec.name]:
                    self.add(values, f"channel:{instance}", "channel_secret", source,
                             self.channel_binding(instance, spec.name, spec.field))
            elif spec.section == "web":
                self.add(values, f"web:{spec.name}", "web_tool_key", source, self.web_binding(spec.name))
            elif spec.section == "voice":
                self.add(values, "voice:elevenlabs", "voice_key", source, VOICE_BINDING)
            elif spec.section == "skill":
                self.add(values, f"skill:{spec.name}", "skill_token", source, self.registry_binding(spec.name))


def read_auth_json(document: dict, collector: SecretCollector) -> set[str]:
    """$PICOCLAW_HOME/auth.json credentials.<provider>: OAuth access and refresh tokens; returns their hosts."""
    hosts: set[str] = set()
    for provider, credential in as_dict(document.get("credentials")).items():
        api_hosts, token_hosts = AUTH_PROVIDERS.get(str(provider), ((), ()))
        credential = as_dict(credential)
        collector.add(credential.get("access_token"), f"auth:{provider}", "oauth_token", AUTH_FILE,
                      Binding(api_hosts, (AUTHZ,)))
        collector.add(credential.get("refresh_token"), f"auth:{provider}", "oauth_token", AUTH_FILE,
                      Binding(token_hosts, ("any",)))
        hosts.update(api_hosts)
        hosts.update(token_hosts)
    return hosts
