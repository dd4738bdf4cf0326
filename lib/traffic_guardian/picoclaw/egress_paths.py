"""The gateway's egress paths from its config, and whether each goes through the monitor.

Proxy variables only help where PicoClaw's client honours them. From PicoClaw's source
(named in SPEC.md section 12): its Go HTTP clients use the variables unless a per-client
`proxy` field is set (model_list[].proxy, channel settings.proxy, tools.web.proxy,
tools.skills.github.proxy), and Go never proxies a loopback target; IRC and MQTT are raw
sockets and Discord voice is UDP, none of which an HTTP proxy sees; stdio MCP servers and
CLI providers are child processes whose own client decides (Node.js honours the variables
only with NODE_USE_ENV_PROXY=1, on Node 24.5+ or 22.21+, which start.sh sets for its
child); the ClawHub registry client builds its own transport without any proxy. Each path
the config creates is one line saying so, with the config path that causes it and what the
operator can do.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from traffic_guardian.detect.egress_policy import is_loopback

THROUGH = "monitor"
BYPASS = "bypass"
UNKNOWN = "unknown"
NODE_PROXY_VERSIONS = "Node.js 24.5+ or 22.21+"


@dataclass(frozen=True)
class EgressPath:
    owner: str  # model:<name>, channel:<instance>, web:<tool>, skill:<registry>, mcp:<server>, voice:...
    config_path: str  # where in PicoClaw's config it comes from
    hosts: tuple[str, ...]
    transport: str = "http"  # http | tcp | udp | stdio | cli | local | own_transport
    proxy: str = ""  # a per-client proxy URL from the config
    proxy_path: str = ""  # the config path of that proxy field
    command: str = ""  # stdio MCP server / CLI provider command


def host_of(url_or_host) -> str | None:
    """The host of an api_base / ws_url / server value: full URL, host:port or bare host."""
    if not isinstance(url_or_host, str) or not url_or_host.strip():
        return None
    text = url_or_host.strip()
    try:
        host = urlsplit(text if "://" in text else f"//{text}").hostname
    except ValueError:
        return None
    return host.lower() if host else None


def _points_at_monitor(proxy: str, monitor: tuple[str, int] | None) -> bool:
    if monitor is None:
        return False
    try:
        parts = urlsplit(proxy if "://" in proxy else f"//{proxy}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return False
    return bool(host) and port == monitor[1] and (host == monitor[0] or is_loopback(host) and is_loopback(monitor[0]))


def _is_node(command: str) -> bool:
    name = command.strip().split("/")[-1].lower()
    return name in ("node", "npx", "npm", "pnpm", "pnpx", "yarn", "bun", "bunx", "deno") or name.endswith(".js")


def classify(path: EgressPath, monitor: tuple[str, int] | None) -> dict:
    """One coverage line: route (monitor | bypass | unknown), why, and what the operator can do."""
    target = ", ".join(path.hosts) or "(no host configured)"
    line = {"owner": path.owner, "config_path": path.config_path, "target": target}
    if path.transport == "tcp":
        return {**line, "route": BYPASS, "reason": "a raw TCP connection: no HTTP proxy ever sees it",
                "advice": "leave it enabled knowing the monitor is blind to it, or disable this channel"}
    if path.transport == "udp":
        return {**line, "route": BYPASS, "reason": "voice media over UDP (RTP): no HTTP proxy ever sees it",
                "advice": "only the audio goes this way; its signalling and the bot's API calls are monitored"}
    if path.transport == "own_transport":
        return {**line, "route": BYPASS, "reason": "PicoClaw's client for it builds its own transport without a proxy",
                "advice": f"set {path.config_path}.enabled false if skill search/install must be monitored"}
    if path.transport == "stdio":
        if _is_node(path.command):
            return {**line, "route": UNKNOWN,
                    "reason": f"a Node.js child process: it uses the proxy variables only with NODE_USE_ENV_PROXY=1 "
                              f"(start.sh sets it) on {NODE_PROXY_VERSIONS}",
                    "advice": f"run it on {NODE_PROXY_VERSIONS}; proxy_bypass findings show what still escapes"}
        return {**line, "route": UNKNOWN, "reason": "a child process: its own HTTP client decides whether it "
                                                    "honours the proxy variables it inherits",
                "advice": "proxy_bypass findings show its direct connections"}
    if path.transport == "cli":
        return {**line, "route": UNKNOWN, "reason": "a local CLI that PicoClaw runs makes its own calls",
                "advice": "proxy_bypass findings show its direct connections"}
    if path.proxy and not _points_at_monitor(path.proxy, monitor):
        proxy_host = host_of(path.proxy) or "another proxy"
        return {**line, "route": BYPASS, "reason": f"{path.proxy_path} sends it through {proxy_host} instead of the "
                                                   "monitor",
                "advice": f"clear {path.proxy_path} (the proxy variables then apply) or point it at the monitor"}
    if path.hosts and all(is_loopback(host) for host in path.hosts):
        return {**line, "route": BYPASS, "reason": "a loopback target: Go never sends these through a proxy",
                "advice": "nothing to do for traffic that stays on this machine; what that service sends on is "
                          "its own"}
    if path.transport == "local":
        return {**line, "route": BYPASS, "reason": "a local service PicoClaw talks to directly",
                "advice": "nothing to do for traffic that stays on this machine"}
    return {**line, "route": THROUGH, "reason": "PicoClaw's client honours the proxy variables", "advice": ""}


def coverage(paths: list[EgressPath], monitor: tuple[str, int] | None) -> list[dict]:
    return [classify(path, monitor) for path in paths]
