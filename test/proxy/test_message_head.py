"""read_head: one pass over a header block gives what mitmproxy's Headers would, per field."""

from __future__ import annotations

from mitmproxy.http import Headers

from traffic_guardian.proxy.message_head import read_head


def test_fields_read_as_mitmproxy_reads_them():
    headers = Headers([(b"Content-Type", b"text/event-stream"), (b"X-A", b"1"), (b"x-a", b"2"),
                       (b"Transfer-Encoding", b"gzip"), (b"transfer-encoding", b"chunked"),
                       (b"Content-Encoding", b"br"), (b"X-Raw", b"caf\xc3\xa9 \xff")])
    head = read_head(headers.fields)
    assert head.content_type == headers.get("content-type")
    assert head.transfer_encoding == headers.get("transfer-encoding") == "gzip, chunked"
    assert head.content_encoding == "br" and head.content_length is None
    assert head.headers == list(headers.items(multi=True))  # order, duplicates, undecodable bytes kept


def test_our_proxy_credentials_are_not_traffic_but_count_as_bytes_sent():
    fields = [(b"Host", b"a.example"), (b"Proxy-Authorization", b"Basic Zm9vOmJhcg=="), (b"Content-Length", b"12")]
    head = read_head(fields)
    assert head.headers == [("Host", "a.example"), ("Content-Length", "12")]
    assert head.content_length == "12"
    assert head.size == sum(len(name) + len(value) + 4 for name, value in fields)


def test_absent_fields_read_empty():
    head = read_head([])
    assert (head.headers, head.size, head.content_type, head.content_encoding, head.content_length,
            head.transfer_encoding) == ([], 0, "", "", None, "")
