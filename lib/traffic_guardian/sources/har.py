"""HAR 1.2 reader for the offline scanner: each entry becomes two Exchanges, plus one per websocket message.

The request (url, headers, postData) is outbound and the response (headers, content) is
inbound; flow_id is "har:<0-based entry index>" so a finding points back at its entry. A
form post recorded as postData.params (name/value pairs, no text) is scanned as the
urlencoded body that went on the wire. Websocket messages, as browsers export them
(`_webSocketMessages`: type send/receive, data), are scanned like the live monitor's
`websocket.message` parts: sent ones outbound, received ones inbound.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

from traffic_guardian.detect.exchange import INBOUND, OUTBOUND, Exchange


class HarError(ValueError):
    """The document is not HAR 1.2 as we read it; the message says where."""


def exchanges_from_har(document) -> Iterator[Exchange]:
    if not isinstance(document, dict) or not isinstance(document.get("log"), dict):
        raise HarError("not a HAR document: no top-level 'log' object")
    entries = document["log"].get("entries")
    if not isinstance(entries, list):
        raise HarError("not a HAR document: log.entries is not a list")
    for index, entry in enumerate(entries):
        request = _object(entry, "request", index)
        response = entry.get("response") if isinstance(entry, dict) else None
        url = request.get("url")
        if not isinstance(url, str):
            raise HarError(f"entry {index}: request.url is missing")
        dest = _dest(url)
        protocol = "https" if url.lower().startswith("https:") else "http"
        flow_id = f"har:{index}"
        post = request.get("postData") or {}
        yield Exchange(
            direction=OUTBOUND, dest=dest, source="har", protocol=protocol, method=str(request.get("method", "")),
            url=url, headers=_headers(request), body=_post_body(post),
            content_type=str(post.get("mimeType") or ""), flow_id=flow_id,
        )
        yield from _websocket_messages(entry, dest, flow_id)
        if isinstance(response, dict):
            content = response.get("content") or {}
            yield Exchange(
                direction=INBOUND, dest=dest, source="har", protocol=protocol, url=url,
                headers=_headers(response), body=_content_text(content, index),
                content_type=str(content.get("mimeType") or ""), flow_id=flow_id,
            )


def _post_body(post: dict) -> str:
    text = post.get("text")
    if text:
        return str(text)
    params = post.get("params")
    if isinstance(params, list):
        pairs = [(str(p.get("name", "")), str(p.get("value", ""))) for p in params if isinstance(p, dict)]
        return urlencode(pairs)
    return ""


def _websocket_messages(entry: dict, dest: str, flow_id: str) -> Iterator[Exchange]:
    messages = entry.get("_webSocketMessages")
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict) or not isinstance(message.get("data"), str):
            continue
        direction = OUTBOUND if message.get("type") == "send" else INBOUND
        yield Exchange(direction=direction, dest=dest, source="har", protocol="websocket", body=message["data"],
                       flow_id=flow_id, body_location="websocket.message")


def _object(entry, key: str, index: int) -> dict:
    value = entry.get(key) if isinstance(entry, dict) else None
    if not isinstance(value, dict):
        raise HarError(f"entry {index}: {key} is missing or not an object")
    return value


def _headers(message: dict) -> list[tuple[str, str]]:
    return [
        (str(h.get("name", "")), str(h.get("value", "")))
        for h in message.get("headers") or []
        if isinstance(h, dict)
    ]


def _content_text(content: dict, index: int) -> bytes | str:
    text = content.get("text") or ""
    if content.get("encoding") == "base64" and text:
        try:
            return base64.b64decode(text)
        except (binascii.Error, ValueError) as exc:
            raise HarError(f"entry {index}: response.content.text is not valid base64") from exc
    return str(text)


def _dest(url: str) -> str:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or ""
    port = port or (443 if parts.scheme == "https" else 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
