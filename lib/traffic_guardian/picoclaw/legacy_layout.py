"""Config schema v0-v2, for operators whose PicoClaw has not yet rewritten its config.

Current PicoClaw migrates every older config.json to v3 on first start (pkg/config/migration.go,
keeping a dated backup), so these layouts are read only until then: `channels.<name>.<field>`
(flat, the name is the type), and `providers.<name>.api_key`. They are turned into the v3
shape here so one reader (v3_layout.py) binds everything.
"""

from __future__ import annotations

from traffic_guardian.detect.providers import Binding
from traffic_guardian.picoclaw.bindings import AUTHZ, PROTOCOLS, normalize_protocol
from traffic_guardian.picoclaw.egress_paths import host_of
from traffic_guardian.picoclaw.secret_fields import SecretCollector
from traffic_guardian.picoclaw.v3_layout import CONFIG_FILE, as_dict, channel_spec, unique_hosts

# Channel fields that were never settings (the v2 -> v3 migration keeps them on the channel itself).
_COMMON = ("enabled", "type", "allow_from", "reasoning_channel_id", "group_trigger", "typing", "placeholder")


def channels_as_v3(config: dict) -> tuple[dict, set[tuple]]:
    """channel_list in the v3 shape built from a legacy `channels` section, and the legacy
    paths it consumed (so they are not read a second time as unknown secrets)."""
    channel_list: dict = {}
    consumed: set[tuple] = set()
    for name, channel in as_dict(config.get("channels")).items():
        if not isinstance(channel, dict):
            continue
        settings = {k: v for k, v in channel.items() if k not in _COMMON}
        if isinstance(channel.get("settings"), dict):  # a v2 file already nested some
            settings.update(channel["settings"])
        channel_list[str(name)] = {"enabled": channel.get("enabled", True) is not False,
                                   "type": channel.get("type") or str(name), "settings": settings}
        spec = channel_spec(str(channel.get("type") or name))
        secret_fields = spec.fields if spec is not None else {}
        consumed.update(("channels", name, field) for field in settings if field in secret_fields)
        consumed.update(("channels", name, "settings", field) for field in as_dict(channel.get("settings"))
                        if field in secret_fields)
    return channel_list, consumed


def read_providers(config: dict, collector: SecretCollector) -> tuple[set[str], set[tuple]]:
    """v0/v1 `providers.<name>` ({api_key, api_base}): each key bound to its api_base or the vendor's host."""
    hosts: set[str] = set()
    consumed: set[tuple] = set()
    for name, provider in as_dict(config.get("providers")).items():
        if not isinstance(provider, dict):
            continue
        protocol = PROTOCOLS.get(normalize_protocol(str(name)))
        base_host = host_of(provider.get("api_base"))
        bound = unique_hosts((base_host,) if base_host else (protocol.hosts if protocol else ()))
        collector.add(provider.get("api_key"), f"model:{name}", "model_api_key", CONFIG_FILE,
                      Binding(bound, protocol.auth if protocol else (AUTHZ,)))
        consumed.add(("providers", name, "api_key"))
        if provider.get("api_key"):
            hosts.update(bound)
    return hosts, consumed
