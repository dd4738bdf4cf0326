"""Requests to loopback, private, link-local, CGNAT or cloud-metadata addresses (detect-only SSRF record).

PicoClaw's web_fetch checks only the first hop's address when a proxy is set (sipeed/picoclaw
issue 3078): with the guardian in between, the final connection to the destination is made
by our proxy, so this is where an agent talked into fetching `http://169.254.169.254/` or a
name that resolves to 127.0.0.1 can be seen. Nothing is blocked (this version is detect
and log only): each such destination is one `private_destination` finding (POLICY; high for
cloud metadata endpoints, medium otherwise) per destination per dedup window.

The proxy asks three times (proxy/addon.py): the destination as written (an IP literal),
every address its name resolves to (resolved here, off the request path), and the address
the connection was actually made to (a DNS answer that changed between the check and the
connect, rebinding, shows there). Destinations the PicoClaw config itself names (a local
model's api_base, a bridge) and `private_destination_allowlist` entries (host globs, IPs,
CIDRs) are expected and not reported. Go's net/http never proxies loopback targets, so
PicoClaw's own calls to local services do not reach the proxy at all.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Iterable

from traffic_guardian.detect.exchange import OUTBOUND
from traffic_guardian.detect.finding import Finding
from traffic_guardian.detect.providers import host_matches

PATTERN = "private_destination"
# Instance metadata services: AWS/GCP/Azure/OpenStack/DigitalOcean (169.254.169.254 and its
# IPv6 form on AWS), AWS ECS task metadata, Alibaba Cloud, Oracle Cloud's second address.
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254", "169.254.170.2", "169.254.170.23", "100.100.100.200", "192.0.0.192"))
_RANGES = (  # (variant, networks), checked in order after the metadata addresses
    ("unspecified", ("0.0.0.0/8", "::/128")),
    ("loopback", ("127.0.0.0/8", "::1/128")),
    ("link_local", ("169.254.0.0/16", "fe80::/10")),
    ("cgnat", ("100.64.0.0/10",)),
    ("private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fec0::/10")),
)
NETWORKS = tuple((variant, tuple(ipaddress.ip_network(n) for n in nets)) for variant, nets in _RANGES)


def is_ip_literal(host: str) -> bool:
    """host is an IP address as written (`[::1]` too), not a name to resolve."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def classify(address: str) -> str | None:
    """The variant of a non-public address (cloud_metadata, unspecified, loopback, link_local,
    cgnat, private), None for a public one or a string that is not an IP address."""
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA:
        return "cloud_metadata"
    for variant, networks in NETWORKS:
        if any(ip in network for network in networks):
            return variant
    return None


def _in_allowlist(host: str, addresses: Iterable[str], entries: Iterable[str]) -> bool:
    globs = []
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            globs.append(entry)
            continue
        for address in (host, *addresses):
            try:
                if ipaddress.ip_address(address.strip("[]")) in network:
                    return True
            except ValueError:
                continue
    return bool(globs) and host_matches(host, globs)


class PrivateDestinations:
    """private_destination findings, one per destination per window; nothing blocked."""

    def __init__(self, allowlist: list[str], derived_hosts: Callable[[], Iterable[str]], window_secs: int, *,
                 max_tracked: int = 1000, clock: Callable[[], float] = time.monotonic,
                 redact: Callable[[str], str] = lambda text: text):
        self.redact = redact
        self.allowlist = list(allowlist)
        self.derived_hosts = derived_hosts
        self.window = window_secs
        self.max_tracked = max_tracked
        self.clock = clock
        self._last: dict[str, float] = {}
        self._seen: dict[str, frozenset[str]] = {}  # dest -> private addresses already reported for it
        self._lock = threading.Lock()

    def check(self, host: str, port: int, addresses: Iterable[str], how: str, *, source: str = "unknown",
              protocol: str = "http", flow_id: str = "") -> Finding | None:
        """how: 'literal' (host is the address), 'resolved' (addresses host resolves to) or
        'connected' (the address the proxy connected to)."""
        addresses = list(addresses)
        hits = [(address, variant) for address in addresses if (variant := classify(address))]
        if not hits or _in_allowlist(host, addresses, [*self.allowlist, *self.derived_hosts()]):
            return None
        dest = f"{host}:{port}"
        now = self.clock()
        private = frozenset(address for address, _variant in hits)
        with self._lock:
            if how == "connected" and private <= self._seen.get(dest, frozenset()):
                return None  # the address its name resolved to, already reported: the same finding
            last = self._last.get(dest)
            if last is not None and self.window > 0 and now - last < self.window:
                return None
            if len(self._last) >= self.max_tracked:
                self._last.clear()
                self._seen.clear()
            self._last[dest] = now
            self._seen[dest] = self._seen.get(dest, frozenset()) | private
        address, variant = next(((a, v) for a, v in hits if v == "cloud_metadata"), hits[0])
        spelled = host if how == "literal" else f"{host} {'resolves to' if how == 'resolved' else 'connected to'} " \
                                                f"{address}"
        return Finding(
            direction=OUTBOUND, protocol=protocol, threat_type="POLICY", pattern=PATTERN, variant=variant,
            severity="high" if variant == "cloud_metadata" else "medium", source=source, dest=dest,
            location="connection", snippet=self.redact(f"{spelled} ({variant.replace('_', ' ')} address)")[:300],
            description="A request to a loopback, private, link-local, CGNAT or cloud metadata address, "
                        "made by the proxy on the client's behalf (detect-only; an SSRF record)",
            flow_id=flow_id)
