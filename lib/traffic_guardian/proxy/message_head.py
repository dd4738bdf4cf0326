"""What the addon's hooks read from an HTTP message's header block, in one pass.

Each hook used to ask mitmproxy's Headers for one field at a time (content-type,
content-length, content-encoding, ...), and every such lookup case-folds and decodes the
whole header list again; with the header list for the engine and the egress byte count,
that was half a dozen passes per message on the proxy's one event loop. read_head()
makes one pass over the raw (name, value) byte pairs and keeps what the hooks need.
"""

from __future__ import annotations

from typing import NamedTuple

# Headers never handed to the engine: our own proxy credentials are not traffic.
SKIPPED_HEADERS = frozenset({b"proxy-authorization"})
_FIELDS = (b"content-type", b"content-encoding", b"content-length", b"transfer-encoding")


class MessageHead(NamedTuple):
    headers: list[tuple[str, str]]  # as the engine sees them, in order, SKIPPED_HEADERS left out
    size: int  # bytes of the header block on the wire (name, ": ", value, CRLF per field)
    content_type: str
    content_encoding: str
    content_length: str | None  # None: no Content-Length field
    transfer_encoding: str


def read_head(fields) -> MessageHead:
    """fields: mitmproxy's Headers.fields, (name, value) byte pairs in wire order.

    Text is decoded as mitmproxy decodes it (UTF-8, undecodable bytes kept as surrogates),
    and a field that occurs more than once reads as its values joined by ", ", as
    mitmproxy's Headers.get gives it.
    """
    headers, size = [], 0
    found: dict[bytes, list[str]] = {}
    for name, value in fields:
        size += len(name) + len(value) + 4
        lowered = name.lower()
        text = value.decode("utf-8", "surrogateescape")
        if lowered in _FIELDS:
            found.setdefault(lowered, []).append(text)
        if lowered not in SKIPPED_HEADERS:
            headers.append((name.decode("utf-8", "surrogateescape"), text))

    def field(name: bytes) -> str | None:
        values = found.get(name)
        return ", ".join(values) if values is not None else None

    return MessageHead(headers, size, field(b"content-type") or "", field(b"content-encoding") or "",
                       field(b"content-length"), field(b"transfer-encoding") or "")
