"""Exchange: one direction of one HTTP(S) or websocket message, as the engine sees it.

Front ends (the mitmdump addon, scan.py's raw and HAR readers) build Exchanges; the engine
never sees a mitmproxy object. That keeps detection testable without a proxy and keeps
the addon a thin adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OUTBOUND = "outbound"
INBOUND = "inbound"


UNKNOWN_SIZE = -1  # Exchange.body_total: cut, and how much more there was is not known


@dataclass
class Exchange:
    direction: str  # OUTBOUND (request, client->server message) or INBOUND (response, server->client)
    dest: str  # "host:port" of the upstream server
    source: str = "unknown"  # client address
    protocol: str = "http"  # http | https | websocket
    method: str = ""
    url: str = ""  # scanned for outbound exchanges only
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | str = b""
    content_type: str = ""
    flow_id: str = ""
    body_location: str = ""  # default: request.body / response.body
    # The body's Content-Encoding when it is still encoded (gzip, br, ...): the engine undoes it,
    # bounded, in the process that scans. "" when the body is already what the engine scans.
    content_encoding: str = ""
    # The body's size on the wire when the front end kept less than all of it (a stream copy
    # at its bound); UNKNOWN_SIZE when it was cut at an unknown size; None: body is all there was.
    body_total: int | None = None

    @property
    def host(self) -> str:
        return split_host_port(self.dest)[0]

    @property
    def side(self) -> str:
        return "request" if self.direction == OUTBOUND else "response"

    def location_of_body(self) -> str:
        return self.body_location or f"{self.side}.body"

    def header(self, name: str) -> str:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return ""


def split_host_port(dest: str) -> tuple[str, str]:
    """'host:443' -> ('host', '443'); '[::1]:8080' -> ('::1', '8080'); 'host' -> ('host', '')."""
    if dest.startswith("["):
        host, _, rest = dest[1:].partition("]")
        return host.lower(), rest.lstrip(":")
    host, sep, port = dest.rpartition(":")
    if not sep or not port.isdigit():
        return dest.lower(), ""
    return host.lower(), port
