"""Configuration: defaults from config/default.json, a JSON file, then environment overrides.

Loading never creates or writes anything, so scripts/validate.py can call it on any
machine. Every problem is reported as (key, message) so each error line names the key.
The constraints below are the contract SPEC.md documents; the defaults are data in
config/default.json, and a test keeps the two in step.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from traffic_guardian.home.guardian_home import GuardianHome, is_inside

BUNDLE_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CONFIG_FILE = BUNDLE_ROOT / "config" / "default.json"
ENV_PREFIX = "PICOCLAW_TRAFFIC_GUARDIAN_"
ENV_CONFIG = ENV_PREFIX + "CONFIG"

# Hard bounds: a scan bound must exist (unbounded scans stall the proxy on large bodies)
# and must not be so small that a PEM header or key cannot fit.
MAX_SCAN_BYTES_RANGE = (1024, 16 * 1024 * 1024)


@dataclass(frozen=True)
class KeySpec:
    kind: type | tuple[type, ...]
    minimum: int | None = None
    maximum: int | None = None
    nullable: bool = False
    path_in_home: bool = False  # a state path: must resolve inside the home


KEY_SPECS: dict[str, KeySpec] = {
    "mode": KeySpec(str),
    "listen_host": KeySpec(str),
    "listen_port": KeySpec(int, 1, 65535),
    "https_inspection": KeySpec(bool),
    "ca_bundle": KeySpec(str, path_in_home=True),
    "upstream_ca_bundle": KeySpec(str, nullable=True),
    "max_scan_bytes": KeySpec(int, *MAX_SCAN_BYTES_RANGE),
    "snippet_context_chars": KeySpec(int, 0, 200),
    "redact_snippets": KeySpec(bool),
    "log_dir": KeySpec(str, path_in_home=True),
    "log_max_bytes": KeySpec(int, 64 * 1024, 1024 * 1024 * 1024),
    "log_backups": KeySpec(int, 0, 100),
    "dedup_window_secs": KeySpec(int, 0, 86400),
    "profile_output": KeySpec(str),
    "provider_hosts": KeySpec(dict),
    # PicoClaw-aware precision (SPEC section 12)
    "known_secrets": KeySpec((bool, str)),
    "picoclaw_home": KeySpec(str, nullable=True),
    "egress_allowlist": KeySpec(list, nullable=True),
    "egress_inventory_max": KeySpec(int, 10, 100000),
    "private_destination_allowlist": KeySpec(list),
    # Scanning in a child process (SPEC section 10)
    "scan_process": KeySpec(bool),
    # Prometheus metrics for node_exporter's textfile collector (SPEC section 11); null: none written
    "metrics_textfile": KeySpec(str, nullable=True, path_in_home=True),
    # Findings copied to syslog (SPEC section 8); null: off
    "syslog": KeySpec(dict, nullable=True),
}

# Environment overrides named in SKILL.md and skill.json (PICOCLAW_TRAFFIC_GUARDIAN_*).
ENV_OVERRIDES = {
    "MODE": "mode",
    "CA_BUNDLE": "ca_bundle",
    "LOG_DIR": "log_dir",
    "MAX_SCAN_BYTES": "max_scan_bytes",
    "REDACT_SNIPPETS": "redact_snippets",
    "PROFILE_OUTPUT": "profile_output",
    # PROXY_URL sets listen_host and listen_port together; see _apply_proxy_url.
}


@dataclass(frozen=True)
class Problem:
    key: str
    message: str

    def line(self, source: str) -> str:
        return f"{source}: {self.key}: {self.message}"


class Config:
    """Effective configuration: attribute access to keys, plus where it came from."""

    def __init__(self, values: dict, home: GuardianHome, source: str):
        self.values = values
        self.home = home
        self.source = source

    def __getattr__(self, key: str):
        try:
            return self.values[key]
        except KeyError:
            raise AttributeError(key) from None

    def state_path(self, key: str) -> Path:
        """A path-valued key resolved against the home when relative."""
        path = Path(os.path.expanduser(self.values[key]))
        return path if path.is_absolute() else self.home.root / path

    @property
    def log_path(self) -> Path:
        return self.state_path("log_dir") / "findings.jsonl"

    @property
    def proxy_url(self) -> str:
        host = self.listen_host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.listen_port}"

    def sha256(self) -> str:
        """Digest of the effective settings (canonical JSON), for status and the posture profile."""
        canonical = json.dumps(self.values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class ConfigError(Exception):
    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(p.line(source) for p in problems))


def load_defaults() -> dict:
    with open(DEFAULT_CONFIG_FILE, encoding="utf-8") as handle:
        return json.load(handle)


def choose_config_file(cli_path: str | None, env: dict[str, str], home: GuardianHome) -> tuple[Path | None, bool]:
    """(path, explicit): --config, else $PICOCLAW_TRAFFIC_GUARDIAN_CONFIG, else <home>/config.json."""
    if cli_path:
        return Path(cli_path).expanduser(), True
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG]).expanduser(), True
    candidate = home.root / "config.json"
    return (candidate, False) if candidate.exists() else (None, False)


def load_config(cli_path: str | None = None, env: dict[str, str] | None = None) -> Config:
    """Load and validate; raise ConfigError listing every problem found."""
    env = dict(os.environ if env is None else env)
    home = GuardianHome.from_env(env)
    values = load_defaults()
    path, _explicit = choose_config_file(cli_path, env, home)
    source = str(path) if path else "defaults"
    problems: list[Problem] = []
    if path is not None:
        try:
            with open(path, encoding="utf-8") as handle:
                loaded = json.load(handle)
        except FileNotFoundError:
            raise ConfigError(source, [Problem("config", "file not found")]) from None
        except PermissionError:
            raise ConfigError(source, [Problem("config", "file is not readable (permission denied)")]) from None
        except IsADirectoryError:
            raise ConfigError(source, [Problem("config", "is a directory, not a JSON file")]) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(source, [Problem("config", f"invalid JSON: {exc}")]) from None
        if not isinstance(loaded, dict):
            raise ConfigError(source, [Problem("config", "must be a JSON object of keys")])
        for key, value in loaded.items():
            if key not in KEY_SPECS:
                problems.append(Problem(key, f"unknown key (known keys: {', '.join(sorted(KEY_SPECS))})"))
            else:
                values[key] = value
    problems += _apply_env(values, env)
    config = Config(values, home, source)
    problems += validate_values(config)
    if problems:
        raise ConfigError(source, problems)
    return config


def _apply_env(values: dict, env: dict[str, str]) -> list[Problem]:
    problems: list[Problem] = []
    for suffix, key in ENV_OVERRIDES.items():
        raw = env.get(ENV_PREFIX + suffix)
        if raw is None or raw == "":
            continue
        spec = KEY_SPECS[key]
        name = ENV_PREFIX + suffix
        if spec.kind is bool:
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                values[key] = True
            elif lowered in ("0", "false", "no", "off"):
                values[key] = False
            else:
                problems.append(Problem(key, f"{name}={raw!r} is not a boolean (use true or false)"))
        elif spec.kind is int:
            try:
                values[key] = int(raw.strip())
            except ValueError:
                problems.append(Problem(key, f"{name}={raw!r} is not an integer"))
        else:
            values[key] = raw
    proxy_url = env.get(ENV_PREFIX + "PROXY_URL")
    if proxy_url:
        problems += _apply_proxy_url(values, proxy_url)
    return problems


def _apply_proxy_url(values: dict, proxy_url: str) -> list[Problem]:
    name = ENV_PREFIX + "PROXY_URL"
    try:
        parts = urlsplit(proxy_url)
        port = parts.port
    except ValueError as exc:
        return [Problem("listen_port", f"{name}: {exc}")]
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/") or parts.username:
        return [Problem("listen_host", f"{name} must look like http://127.0.0.1:18777 (no credentials, no path)")]
    values["listen_host"] = parts.hostname
    if port is not None:
        values["listen_port"] = port
    return []


def validate_values(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    values = config.values
    for key, spec in KEY_SPECS.items():
        value = values.get(key)
        if value is None:
            if not spec.nullable:
                problems.append(Problem(key, "must not be null"))
            continue
        # bool is an int subclass in Python; a config that says "max_scan_bytes": true is wrong.
        allows_bool = spec.kind is bool or isinstance(spec.kind, tuple) and bool in spec.kind
        if isinstance(value, bool) and not allows_bool or not isinstance(value, spec.kind):
            problems.append(Problem(key, f"wrong type: expected {_type_name(spec.kind)}, got {_json_type(value)}"))
            continue
        if spec.minimum is not None and not spec.minimum <= value <= spec.maximum:
            problems.append(Problem(key, f"{value} is out of range: must be {spec.minimum}..{spec.maximum}"))
        if spec.path_in_home and isinstance(value, str) and not is_inside(config.state_path(key), config.home.root):
            problems.append(Problem(key, f"{value!r} resolves outside the guardian home {config.home.root}"))
    if isinstance(values.get("syslog"), dict):
        from traffic_guardian.home.syslog_sink import parse_target

        try:
            parse_target(values["syslog"])
        except ValueError as exc:
            problems.append(Problem("syslog", str(exc)))
    metrics = values.get("metrics_textfile")
    if isinstance(metrics, str) and not metrics.endswith(".prom"):
        problems.append(Problem("metrics_textfile", f"{metrics!r} must end in .prom: node_exporter's textfile "
                                                    "collector reads only those"))
    if values.get("mode") not in (None, "detect") and isinstance(values.get("mode"), str):
        problems.append(Problem("mode", f"{values['mode']!r} is not supported: only 'detect' exists; "
                                        "blocking is not part of this version"))
    if values.get("redact_snippets") is False:
        problems.append(Problem("redact_snippets", "false is not supported: raw secrets are never written in "
                                                   "this version (set snippet_context_chars to 0 for no context)"))
    host = values.get("listen_host")
    if isinstance(host, str) and not _is_loopback(host):
        problems.append(Problem("listen_host", f"{host!r} is not a loopback address: the listener binds "
                                               "127.0.0.1, ::1 or localhost only"))
    ca = values.get("upstream_ca_bundle")
    if isinstance(ca, str) and not os.access(os.path.expanduser(ca), os.R_OK):
        problems.append(Problem("upstream_ca_bundle", f"{ca!r} is not a readable file"))
    hosts = values.get("provider_hosts")
    if isinstance(hosts, dict):
        for provider, globs in hosts.items():
            if not isinstance(globs, list) or not all(isinstance(g, str) and g for g in globs):
                problems.append(Problem(f"provider_hosts.{provider}", "must be a list of host names or globs"))
    if isinstance(values.get("known_secrets"), str) and values["known_secrets"] != "auto":
        problems.append(Problem("known_secrets", f"{values['known_secrets']!r} is not one of \"auto\", true, false"))
    allowlist = values.get("egress_allowlist")
    if isinstance(allowlist, list) and not all(isinstance(h, str) and h.strip() for h in allowlist):
        problems.append(Problem("egress_allowlist", "must be a list of host names or globs (\"picoclaw\" adds the "
                                                    "hosts derived from the PicoClaw config)"))
    private = values.get("private_destination_allowlist")
    if isinstance(private, list) and not all(isinstance(h, str) and h.strip() for h in private):
        problems.append(Problem("private_destination_allowlist", "must be a list of host names, globs, IP "
                                                                 "addresses or CIDRs (e.g. \"10.0.0.0/8\")"))
    return problems


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _type_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "string", int: "integer", bool: "boolean", dict: "object", list: "array"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _json_type(value) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", dict: "object",
            list: "array"}.get(type(value), type(value).__name__)
