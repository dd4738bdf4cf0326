"""Read the operator's PicoClaw files: which secrets PicoClaw holds, where each may go, what bypasses us.

Generic regexes cannot tell a key's normal use from its theft, and miss keys with no
distinctive format. PicoClaw's own config says exactly which secrets exist and which
host each is for, so the guardian reads it (read-only, never writes it), where PicoClaw
itself reads it (pkg/config/envkeys.go, config.go LoadConfig):

  config.json     $PICOCLAW_CONFIG, else $PICOCLAW_HOME/config.json
  .security.yml   beside config.json (PicoClaw loads it for v3 files; read here whatever the version)
  auth.json       $PICOCLAW_HOME/auth.json: OAuth tokens (pkg/auth/store.go)

v3_layout.py reads the current schema, legacy_layout.py turns v0-v2 into it, env_overrides.py
adds the PICOCLAW_* variables, secure_values.py opens file:// and enc://. Anything left that
looks like a secret is watched bound to nothing (every outbound appearance is reported).
Values are held in memory only; nothing in this package writes, logs or formats a value.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from traffic_guardian.detect.known_secrets import ConfiguredSecret
from traffic_guardian.picoclaw import env_overrides, yaml_subset
from traffic_guardian.picoclaw.egress_paths import EgressPath, coverage
from traffic_guardian.picoclaw.legacy_layout import channels_as_v3, read_providers
from traffic_guardian.picoclaw.secret_fields import SecretCollector, Unwatchable, is_secret_field, looks_secret
from traffic_guardian.picoclaw.v3_layout import AUTH_FILE, CONFIG_FILE, SECURITY_FILE, V3Reader, read_auth_json

MAX_FILE_BYTES = 4 * 1024 * 1024  # PicoClaw configs are a few KiB; refuse anything absurd
CURRENT_VERSION = 3  # pkg/config/config.go CurrentVersion


@dataclass
class SourceReport:
    """What one file gave: for validate and status. Never a value."""

    path: str
    exists: bool
    secrets: int = 0
    error: str | None = None

    def to_dict(self) -> dict:
        return {"path": self.path, "exists": self.exists, "secrets": self.secrets, "error": self.error}


@dataclass(frozen=True)
class PicoClawPaths:
    home: Path
    config: Path
    security: Path
    auth: Path


@dataclass
class PicoClawSnapshot:
    home: Path
    secrets: list[ConfiguredSecret]
    reports: list[SourceReport]
    egress_hosts: tuple[str, ...]  # host globs PicoClaw is configured to talk to
    version: int | None = None
    unwatchable: list[Unwatchable] = field(default_factory=list)
    egress_paths: list[EgressPath] = field(default_factory=list)
    monitor: tuple[str, int] | None = None  # the listener, to judge per-client proxy fields
    environment_secrets: int = 0
    credential_files: frozenset[Path] = frozenset()  # file:// targets read: watched for changes too

    @property
    def any_file(self) -> bool:
        return any(report.exists for report in self.reports)

    def coverage(self) -> list[dict]:
        return coverage(self.egress_paths, self.monitor)

    def summary_extra(self) -> dict:
        """What KnownSecretSet.summary adds from the reader: never a value."""
        return {"version": self.version, "environment_secrets": self.environment_secrets,
                "unwatchable": [item.to_dict() for item in self.unwatchable], "coverage": self.coverage()}


def resolve_picoclaw_home(configured: str | None, env: dict[str, str] | None = None) -> Path:
    """picoclaw_home from the guardian config, else $PICOCLAW_HOME, else ~/.picoclaw."""
    env = os.environ if env is None else env
    chosen = configured or env.get("PICOCLAW_HOME") or "~/.picoclaw"
    return Path(os.path.expanduser(chosen)).absolute()


def picoclaw_paths(home: Path, env: dict[str, str]) -> PicoClawPaths:
    """Where PicoClaw reads its files: PICOCLAW_CONFIG moves config.json and .security.yml with it."""
    home = Path(home)
    moved = env.get("PICOCLAW_CONFIG", "").strip()
    config = Path(os.path.expanduser(moved)).absolute() if moved else home / CONFIG_FILE
    return PicoClawPaths(home, config, config.parent / SECURITY_FILE, home / AUTH_FILE)


def file_stamps(home: Path, env: dict[str, str] | None = None, extra: tuple[Path, ...] = ()) -> tuple:
    """(mtime_ns, size, inode) of every file read, None when missing, plus a digest of the
    PicoClaw variables in env: a change in any means reload."""
    env = dict(os.environ) if env is None else env
    paths = picoclaw_paths(home, env)
    stamps: list = []
    for path in (paths.config, paths.security, paths.auth, *sorted(extra)):
        try:
            info = os.stat(path)
            stamps.append((info.st_mtime_ns, info.st_size, info.st_ino))
        except OSError:
            stamps.append(None)
    digest = hashlib.sha256(json.dumps(env_overrides.relevant(env)).encode()).hexdigest()
    return (*stamps, digest)


def read_picoclaw(home: Path, env: dict[str, str] | None = None,
                  monitor: tuple[str, int] | None = None) -> PicoClawSnapshot:
    """Every secret PicoClaw holds with its binding, the egress paths, per-file reports; never raises on content."""
    env = dict(os.environ) if env is None else env
    paths = picoclaw_paths(home, env)
    config, config_report = _load(paths.config, json.loads)
    security, security_report = _load(paths.security, yaml_subset.loads)
    auth, auth_report = _load(paths.auth, json.loads)
    if config_report.exists and config_report.error is None and not isinstance(config, dict):
        config_report.error = "not a JSON object"
    config = config if isinstance(config, dict) else {}
    security = security if isinstance(security, dict) else {}
    version = config.get("version") if isinstance(config.get("version"), int) else (0 if config else None)
    collector = SecretCollector(paths.config.parent, env)
    consumed_legacy: set[tuple] = set()
    if "channel_list" not in config and isinstance(config.get("channels"), dict):
        channel_list, consumed_legacy = channels_as_v3(config)
        config = {**config, "channel_list": channel_list}
    reader = V3Reader(config, security, collector, env)
    reader.read()
    provider_hosts, consumed_providers = read_providers(config, collector)
    skip = reader.consumed[CONFIG_FILE] | consumed_legacy | consumed_providers
    if consumed_legacy:
        skip.add(("channel_list",))  # built here from the legacy channels: not in the file
    _walk_other(config, skip, collector, CONFIG_FILE, only_secret_fields=True)
    config_report.secrets = collector.count(CONFIG_FILE)
    _walk_other(security, reader.consumed[SECURITY_FILE], collector, SECURITY_FILE, only_secret_fields=False)
    security_report.secrets = collector.count(SECURITY_FILE)
    auth_hosts = read_auth_json(auth if isinstance(auth, dict) else {}, collector)
    auth_report.secrets = collector.count(AUTH_FILE)
    environment = sum(1 for secret in collector.secrets if secret.source.startswith("env:"))
    hosts = {*reader.egress_hosts, *provider_hosts, *auth_hosts}
    return PicoClawSnapshot(Path(home), collector.secrets, [config_report, security_report, auth_report],
                            tuple(sorted(hosts)), version, collector.unwatchable, reader.paths, monitor, environment,
                            frozenset(collector.credential_files))


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


def _walk_other(node, consumed: set[tuple], collector: SecretCollector, source: str,
                only_secret_fields: bool) -> None:
    """Any remaining secret: bound to nothing, so every outbound appearance is reported."""
    stack = [(node, ())]
    while stack:
        item, where = stack.pop()
        if where in consumed:
            continue
        if isinstance(item, dict):
            stack.extend((value, (*where, key)) for key, value in item.items())
        elif isinstance(item, list):
            if item and all(isinstance(v, str) for v in item) and where and is_secret_field(where[-1]):
                looks = [v for v in item if not only_secret_fields or looks_secret(v)]
                collector.add(looks, "config:" + _dotted(where), "other_secret", source)
            else:
                stack.extend((value, (*where, index)) for index, value in enumerate(item))
        elif isinstance(item, str) and where:
            if not only_secret_fields or is_secret_field(where[-1]) and looks_secret(item):
                collector.add(item, "config:" + _dotted(where), "other_secret", source)


def _dotted(path: tuple) -> str:
    return ".".join(str(part) for part in path)


def known_secrets_report(setting, picoclaw_home: str | None, env: dict[str, str] | None = None,
                         monitor: tuple[str, int] | None = None, fingerprint=None) -> dict:
    """What validate shows: the files read, the secrets by owner and kind (counts, and the
    home's salted fingerprints when fingerprint is given), what could not be watched and
    why, and the coverage report. Never a value.

    problems is non-empty only when known_secrets is true (required) and a file is unusable
    or neither file exists; with "auto" those are reported but not problems.
    """
    env = dict(os.environ) if env is None else env
    home = resolve_picoclaw_home(picoclaw_home, env)
    enabled = setting is not False
    snapshot = read_picoclaw(home, env, monitor) if enabled else None
    reports = snapshot.reports if snapshot else []
    problems: list[str] = []
    if setting is True and snapshot is not None:
        problems += [f"{r.path}: {r.error}" for r in reports if r.error]
        if not any(r.exists for r in reports[:2]):
            problems.append(f"{home}: neither {CONFIG_FILE} nor {SECURITY_FILE} exists (known_secrets is true)")
    owners: dict[tuple[str, str], set[str]] = {}  # distinct values per owner and kind, in memory only
    for secret in snapshot.secrets if snapshot else []:
        owners.setdefault((secret.owner, secret.kind), set()).add(secret.value)
    return {
        "setting": setting, "enabled": enabled, "picoclaw_home": str(home),
        "config_version": snapshot.version if snapshot else None,
        "files": [report.to_dict() for report in reports],
        "environment_secrets": snapshot.environment_secrets if snapshot else 0,
        "secrets": len({secret.value for secret in snapshot.secrets}) if snapshot else 0,
        "owners": [{"owner": owner, "kind": kind, "values": len(values),
                    "fingerprints": sorted(fingerprint(v) for v in values) if fingerprint else []}
                   for (owner, kind), values in sorted(owners.items())],
        "unwatchable": [item.to_dict() for item in snapshot.unwatchable] if snapshot else [],
        "egress_hosts": len(snapshot.egress_hosts) if snapshot else 0,
        "coverage": snapshot.coverage() if snapshot else [],
        "problems": problems,
    }
