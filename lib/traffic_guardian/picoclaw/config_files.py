"""Read the operator's PicoClaw files: which secrets PicoClaw holds, and where each may go.

Generic regexes cannot tell a key's normal use from its theft, and miss keys with no
distinctive format. PicoClaw's own config says exactly which secrets exist and which
host each is for, so the guardian reads it (read-only, never writes it):

  $PICOCLAW_HOME/config.json   model_list[] (model_name, model, api_base, api_key(s)),
                               channels.<name>.<token fields>, tools.web.<tool>.api_key(s),
                               tools.mcp.servers.<name>.headers, legacy providers.<name>,
                               and any other secret-looking field
  $PICOCLAW_HOME/.security.yml model_list.<model_name[:N]>.api_keys, channels.<name>.<field>,
                               web.<tool>.api_key(s), skills.<registry>.<field>, and any
                               other string in the file (everything there is a secret)

Each secret comes with a Binding: the hosts it is for and the auth locations it is
expected in there (providers.py's vocabulary), from the table in bindings.py. Values are held in memory only; nothing
in this module writes, logs or formats a value. `ref:` references, placeholders
(YOUR_..., xxx, <...>) and values shorter than MIN_SECRET_CHARS are not secrets.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from traffic_guardian.detect.known_secrets import ConfiguredSecret
from traffic_guardian.detect.providers import UNBOUND, Binding
from traffic_guardian.picoclaw import yaml_subset
from traffic_guardian.picoclaw.bindings import CHANNELS, MODEL_AUTH, SKILL_REGISTRIES, VENDOR_HOSTS, WEB_TOOLS

CONFIG_FILE = "config.json"
SECURITY_FILE = ".security.yml"
MAX_FILE_BYTES = 4 * 1024 * 1024  # PicoClaw configs are a few KiB; refuse anything absurd
MIN_SECRET_CHARS = 8  # shorter values ("admin", "1234") would match everywhere
MAX_SECRET_CHARS = 4096

# A config.json field whose name says it holds a credential (api_key, bot_token,
# client_secret, password, Authorization, GITHUB_TOKEN ...).
_SECRET_FIELD = re.compile(
    r"(?:^|[_\-.])(?:api[_-]?keys?|keys?|tokens?|secrets?|passwords?|passwd|credentials?|authorization)$",
    re.IGNORECASE)
# Placeholders as PicoClaw's examples write them (sk-xxx, YOUR_API_KEY, sk-your-openai-key,
# <token>, ${VAR}); anchored on separators so a random real key never looks like one.
_PLACEHOLDER = re.compile(r"^(?:ref:|env:|\$\{|\$[A-Z_]|<)|(?:^|[-_.])(?:your[-_]|x{3,}(?:$|[-_.]))"
                          r"|changeme|placeholder|example", re.IGNORECASE)
_AUTH_SCHEME = re.compile(r"^(?:bearer|bot|token|basic|apikey)\s+", re.IGNORECASE)
_INDEXED_NAME = re.compile(r"^(?P<name>.+):(?P<index>\d+)$")


@dataclass
class SourceReport:
    """What one file gave: for validate and status. Never a value."""

    path: str
    exists: bool
    secrets: int = 0
    error: str | None = None

    def to_dict(self) -> dict:
        return {"path": self.path, "exists": self.exists, "secrets": self.secrets, "error": self.error}


@dataclass
class PicoClawSnapshot:
    home: Path
    secrets: list[ConfiguredSecret]
    reports: list[SourceReport]
    egress_hosts: tuple[str, ...]  # host globs PicoClaw is configured to talk to

    @property
    def any_file(self) -> bool:
        return any(report.exists for report in self.reports)


def resolve_picoclaw_home(configured: str | None, env: dict[str, str] | None = None) -> Path:
    """picoclaw_home from the guardian config, else $PICOCLAW_HOME, else ~/.picoclaw."""
    env = os.environ if env is None else env
    chosen = configured or env.get("PICOCLAW_HOME") or "~/.picoclaw"
    return Path(os.path.expanduser(chosen)).absolute()


def file_stamps(home: Path) -> tuple:
    """(mtime_ns, size, inode) of both files, None when missing: a change means reload."""
    stamps = []
    for name in (CONFIG_FILE, SECURITY_FILE):
        try:
            info = os.stat(home / name)
            stamps.append((info.st_mtime_ns, info.st_size, info.st_ino))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def read_picoclaw(home: Path) -> PicoClawSnapshot:
    """Every secret in the two files with its binding, plus per-file reports; never raises on content."""
    home = Path(home)
    config, config_report = _load(home / CONFIG_FILE, _parse_json)
    security, security_report = _load(home / SECURITY_FILE, yaml_subset.loads)
    config = config if isinstance(config, dict) else {}
    security = security if isinstance(security, dict) else {}
    if config_report.exists and config_report.error is None and not isinstance(config, dict):
        config_report.error = "not a JSON object"
    collector = _Collector(config)
    collector.from_config_json(config)
    config_report.secrets = collector.count(CONFIG_FILE)
    collector.from_security_yml(security)
    security_report.secrets = collector.count(SECURITY_FILE)
    return PicoClawSnapshot(home, collector.secrets, [config_report, security_report],
                            tuple(sorted(collector.egress_hosts)))


def _parse_json(text: str):
    return json.loads(text)


def _load(path: Path, parse):
    report = SourceReport(str(path), exists=path.exists())
    if not report.exists:
        return None, report
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        report.error = f"not readable ({exc.strerror or type(exc).__name__})"
        return None, report
    if len(data) > MAX_FILE_BYTES:
        report.error = f"larger than {MAX_FILE_BYTES} bytes; not read"
        return None, report
    try:
        return parse(data.decode("utf-8")), report
    except UnicodeDecodeError:
        report.error = "not UTF-8 text"
    except yaml_subset.YamlError as exc:
        report.error = f"unsupported YAML: {exc}"
    except ValueError as exc:
        # json's message quotes no content, only positions
        report.error = f"invalid JSON: {type(exc).__name__} at line {getattr(exc, 'lineno', '?')}"
    return None, report


def host_of(url_or_host: str) -> str | None:
    """The host of an api_base / ws_url / server value: full URL, host:port or bare host."""
    if not isinstance(url_or_host, str) or not url_or_host.strip():
        return None
    text = url_or_host.strip()
    try:
        host = urlsplit(text if "://" in text else f"//{text}").hostname
    except ValueError:
        return None
    return host.lower() if host else None


def _secret_values(value) -> list[str]:
    values = value if isinstance(value, list) else [value]
    out = []
    for item in values:
        if not isinstance(item, str):
            continue
        item = _AUTH_SCHEME.sub("", item.strip())
        if MIN_SECRET_CHARS <= len(item) <= MAX_SECRET_CHARS and not _PLACEHOLDER.search(item):
            out.append(item)
    return out


class _Collector:
    def __init__(self, config: dict):
        self.secrets: list[ConfiguredSecret] = []
        self.egress_hosts: set[str] = set()
        self.models = [entry for entry in _as_list(config.get("model_list")) if isinstance(entry, dict)]
        self.channels = _as_dict(config.get("channels"))

    def count(self, source: str) -> int:
        return sum(1 for secret in self.secrets if secret.source == source)

    def add(self, value, owner: str, kind: str, source: str, binding: Binding = UNBOUND) -> None:
        for secret in _secret_values(value):
            self.secrets.append(ConfiguredSecret(secret, owner, kind, source, binding))

    # -- config.json ---------------------------------------------------------------

    def from_config_json(self, config: dict) -> None:
        consumed: set[tuple] = set()
        for index, entry in enumerate(self.models):
            name = str(entry.get("model_name") or entry.get("model") or f"#{index}")
            binding = Binding(self.model_hosts([entry]), MODEL_AUTH)
            self.egress_hosts.update(binding.hosts)
            for key in ("api_key", "api_keys"):
                self.add(entry.get(key), f"model:{name}", "model_api_key", CONFIG_FILE, binding)
                consumed.add(("model_list", index, key))
        for name, provider in _as_dict(config.get("providers")).items():  # legacy V0/V1 layout
            if isinstance(provider, dict):
                hosts = _hosts([host_of(provider.get("api_base", ""))]) or VENDOR_HOSTS.get(name, ())
                self.add(provider.get("api_key"), f"model:{name}", "model_api_key", CONFIG_FILE,
                         Binding(hosts, MODEL_AUTH))
                self.egress_hosts.update(hosts if provider.get("api_key") else ())
                consumed.add(("providers", name, "api_key"))
        for name, channel in self.channels.items():
            if not isinstance(channel, dict):
                continue
            spec = CHANNELS.get(name)
            if channel.get("enabled", True) is not False:
                self.egress_hosts.update(self.channel_hosts(name))
            for field_name, value in channel.items():
                if spec is not None and field_name in spec.fields:
                    self.add(value, f"channel:{name}", "channel_secret", CONFIG_FILE,
                             self.channel_binding(name, field_name))
                    consumed.add(("channels", name, field_name))
        tools = _as_dict(config.get("tools"))
        for name, tool in _as_dict(tools.get("web")).items():
            if not isinstance(tool, dict):
                continue
            hosts, auth = WEB_TOOLS.get(name, ((), ()))
            if tool.get("enabled", True) is not False:
                self.egress_hosts.update(hosts)
            for key in ("api_key", "api_keys"):
                self.add(tool.get(key), f"web:{name}", "web_tool_key", CONFIG_FILE, Binding(hosts, auth))
                consumed.add(("tools", "web", name, key))
        mcp = _as_dict(tools.get("mcp"))
        for name, server in _as_dict(mcp.get("servers", mcp)).items():
            if not isinstance(server, dict) or not isinstance(server.get("headers"), dict):
                continue
            hosts = _hosts([host_of(server.get("url", ""))])
            if server.get("enabled", True) is not False:
                self.egress_hosts.update(hosts)
            for header, value in server["headers"].items():
                self.add(value, f"mcp:{name}", "mcp_credential", CONFIG_FILE,
                         Binding(hosts, (f"header:{str(header).lower()}",)))
                consumed.add(("tools", "mcp", "servers", name, "headers", header))
                consumed.add(("tools", "mcp", name, "headers", header))
        self.walk_other(config, (), consumed, CONFIG_FILE, only_secret_fields=True)

    # -- .security.yml -------------------------------------------------------------

    def from_security_yml(self, security: dict) -> None:
        consumed: set[tuple] = set()
        for key, entry in _as_dict(security.get("model_list")).items():
            key = str(key)
            match = _INDEXED_NAME.match(key)
            base = match.group("name") if match else key
            entries = [e for e in self.models if str(e.get("model_name", "")) == base]
            if match and int(match.group("index")) < len(entries):
                entries = [entries[int(match.group("index"))]]
            binding = Binding(self.model_hosts(entries), MODEL_AUTH) if entries else UNBOUND
            if isinstance(entry, dict):
                for field_name in ("api_keys", "api_key"):
                    self.add(entry.get(field_name), f"model:{base}", "model_api_key", SECURITY_FILE, binding)
                    consumed.add(("model_list", key, field_name))
        for name, channel in _as_dict(security.get("channels")).items():
            spec = CHANNELS.get(name)
            for field_name, value in _as_dict(channel).items():
                binding = self.channel_binding(name, field_name) if spec and field_name in spec.fields else UNBOUND
                self.add(value, f"channel:{name}", "channel_secret", SECURITY_FILE, binding)
                consumed.add(("channels", name, field_name))
        for name, tool in _as_dict(security.get("web")).items():
            hosts, auth = WEB_TOOLS.get(name, ((), ()))
            for field_name, value in _as_dict(tool).items():
                self.add(value, f"web:{name}", "web_tool_key", SECURITY_FILE, Binding(hosts, auth))
                consumed.add(("web", name, field_name))
        for name, registry in _as_dict(security.get("skills")).items():
            hosts, auth = SKILL_REGISTRIES.get(name, ((), ()))
            if _as_dict(registry):
                self.egress_hosts.update(hosts)
            for field_name, value in _as_dict(registry).items():
                self.add(value, f"skill:{name}", "skill_token", SECURITY_FILE, Binding(hosts, auth))
                consumed.add(("skills", name, field_name))
        self.walk_other(security, (), consumed, SECURITY_FILE, only_secret_fields=False)

    # -- bindings ------------------------------------------------------------------

    def model_hosts(self, entries: list[dict]) -> tuple[str, ...]:
        hosts: list[str] = []
        for entry in entries:
            vendor = str(entry.get("model", "")).partition("/")[0].lower()
            base = entry.get("api_base")
            host = host_of(base) if isinstance(base, str) and ("." in base or "://" in base) else None
            hosts.extend([host] if host else VENDOR_HOSTS.get(vendor, ()))
        return _hosts(hosts)

    def channel_hosts(self, name: str) -> tuple[str, ...]:
        spec = CHANNELS.get(name)
        if spec is None:
            return ()
        channel = _as_dict(self.channels.get(name))
        own = [host_of(channel.get(key, "")) for key in spec.host_fields]
        return _hosts([*spec.hosts, *own])

    def channel_binding(self, name: str, field_name: str) -> Binding:
        auth = CHANNELS[name].fields[field_name]
        return Binding(self.channel_hosts(name), auth) if auth else UNBOUND

    def walk_other(self, node, path: tuple, consumed: set[tuple], source: str, only_secret_fields: bool) -> None:
        """Any remaining secret: bound to nothing, so every outbound appearance is reported."""
        stack = [(node, path)]
        while stack:
            item, where = stack.pop()
            if where in consumed:
                continue
            if isinstance(item, dict):
                stack.extend((value, (*where, key)) for key, value in item.items())
            elif isinstance(item, list):
                if item and all(isinstance(v, str) for v in item) and where and self._secret_field(where[-1]):
                    looks = [v for v in item if not only_secret_fields or _looks_secret(v)]
                    self.add(looks, "config:" + _dotted(where), "other_secret", source)
                else:
                    stack.extend((value, (*where, index)) for index, value in enumerate(item))
            elif isinstance(item, str) and where:
                if not only_secret_fields or self._secret_field(where[-1]) and _looks_secret(item):
                    self.add(item, "config:" + _dotted(where), "other_secret", source)

    @staticmethod
    def _secret_field(name) -> bool:
        return isinstance(name, str) and bool(_SECRET_FIELD.search(name))


def _looks_secret(value: str) -> bool:
    """A config.json value under a secret-sounding name that also looks like key material.

    Names alone are too loose there ("session_key": "agent:main"); .security.yml needs no
    such check because everything in it is a secret.
    """
    value = _AUTH_SCHEME.sub("", value.strip())
    return (len(value) >= 16 and not any(c.isspace() for c in value) and "://" not in value
            and value[0] not in "/~." and any(c.isdigit() for c in value) and any(c.isalpha() for c in value))


def _hosts(hosts) -> tuple[str, ...]:
    return tuple(dict.fromkeys(h for h in hosts if h))


def _dotted(path: tuple) -> str:
    return ".".join(str(part) for part in path)


def _as_dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _as_list(value) -> list:
    return value if isinstance(value, list) else []


def known_secrets_report(setting, picoclaw_home: str | None, env: dict[str, str] | None = None) -> dict:
    """What validate shows: the files it would read and how many secrets each gave, never a value.

    problems is non-empty only when known_secrets is true (required) and a file is unusable
    or neither file exists; with "auto" those are reported but not problems.
    """
    home = resolve_picoclaw_home(picoclaw_home, env)
    enabled = setting is not False
    snapshot = read_picoclaw(home) if enabled else None
    reports = snapshot.reports if snapshot else []
    problems: list[str] = []
    if setting is True:
        problems += [f"{r.path}: {r.error}" for r in reports if r.error]
        if snapshot is not None and not snapshot.any_file:
            problems.append(f"{home}: neither {CONFIG_FILE} nor {SECURITY_FILE} exists (known_secrets is true)")
    return {
        "setting": setting, "enabled": enabled, "picoclaw_home": str(home),
        "files": [report.to_dict() for report in reports],
        "secrets": len({secret.value for secret in snapshot.secrets}) if snapshot else 0,
        "egress_hosts": len(snapshot.egress_hosts) if snapshot else 0,
        "problems": problems,
    }
