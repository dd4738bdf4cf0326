"""scan_incomplete (SPEC.md sections 5 and 6, issue 19 item 3, in part): a part longer than
max_scan_bytes is scanned up to the bound, and that the rest was not is one finding with
the sizes, never a silent cut. (Scanning the rest in windows is issue 19 item 1; today the
bound is max_scan_bytes.)
"""

from __future__ import annotations

import gzip
import json

from llm_fixtures import CURL_PIPE_BASH, openai_chat_stream
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import INBOUND, OUTBOUND, UNKNOWN_SIZE, Exchange
from traffic_guardian.detect.llm_streams import reassemble, stream_exchanges

BOUND = 4096
ENGINE = Engine(max_scan_bytes=BOUND)


def incomplete(exchange: Exchange) -> list[tuple]:
    return [(f.location, f.variant, f.bytes_total, f.bytes_scanned, f.severity, f.threat_type)
            for f in ENGINE.scan(exchange) if f.pattern == "scan_incomplete"]


def test_the_issue_page_a_payload_after_the_bound_is_reported_as_not_scanned():
    """The issue's attack: filler, then the payload past the bound. Not found, but not silent."""
    page = "<p>" + "lorem ipsum " * 600 + "</p>\n" + CURL_PIPE_BASH
    found = incomplete(Exchange(direction=INBOUND, dest="evil.example:443", body=page))
    assert found == [("response.body", "body", len(page), BOUND, "low", "POLICY")]


def test_a_part_within_the_bound_is_not_reported():
    assert incomplete(Exchange(direction=INBOUND, dest="x.example:443", body="x" * BOUND)) == []


def test_headers_and_urls_over_the_bound_are_reported_each():
    exchange = Exchange(direction=OUTBOUND, dest="x.example:443", url="https://x.example/?q=" + "a" * BOUND,
                        headers=[("cookie", "c" * (BOUND + 10)), ("accept", "*/*")])
    found = incomplete(exchange)
    assert ("request.url", "url", BOUND + 21, BOUND, "low", "POLICY") in found
    assert ("request.header:cookie", "header", BOUND + 10, BOUND, "low", "POLICY") in found
    assert len(found) == 2


def test_a_body_the_front_end_cut_carries_its_wire_size():
    exchange = Exchange(direction=OUTBOUND, dest="x.example:443", body=b"a" * BOUND, body_total=10 * BOUND)
    assert incomplete(exchange) == [("request.body", "body", 10 * BOUND, BOUND, "low", "POLICY")]


def test_a_compressed_body_inflating_past_the_bound_has_an_unknown_size():
    wire = gzip.compress(b"z" * (8 * BOUND))
    exchange = Exchange(direction=INBOUND, dest="x.example:443", body=wire, content_encoding="gzip")
    assert incomplete(exchange) == [("response.body", "body", None, BOUND, "low", "POLICY")]
    finding = next(f for f in ENGINE.scan(exchange) if f.pattern == "scan_incomplete")
    record = json.loads(finding.to_json())
    assert record["bytes_total"] is None and record["bytes_scanned"] == BOUND
    assert "an unknown size" in record["snippet"]


def test_a_small_compressed_body_is_whole():
    exchange = Exchange(direction=INBOUND, dest="x.example:443", body=gzip.compress(b"ok"), content_encoding="gzip")
    assert incomplete(exchange) == []


def test_a_stream_text_cut_at_the_bound_is_reported_with_an_unknown_size():
    events = openai_chat_stream(["word " * 100] * 20)  # 10 KB of text in small events
    texts = reassemble(events, "text/event-stream", max_scan_bytes=BOUND)
    assert any(text.truncated for text in texts)
    template = Exchange(direction=INBOUND, dest="api.example:443")
    found = [f for exchange in stream_exchanges(texts, template) for f in ENGINE.scan(exchange)
             if f.pattern == "scan_incomplete"]
    assert found and found[0].location == "response.stream:text" and found[0].bytes_total is None
    assert UNKNOWN_SIZE == -1  # the front ends' marker; never written into a finding


def test_one_stream_event_longer_than_the_bound_is_reported():
    events = openai_chat_stream(["x" * (2 * BOUND)])
    texts = reassemble(events, "text/event-stream", max_scan_bytes=BOUND)
    template = Exchange(direction=INBOUND, dest="api.example:443")
    found = [f for exchange in stream_exchanges(texts, template) for f in ENGINE.scan(exchange)
             if f.pattern == "scan_incomplete"]
    assert [f.location for f in found] == ["response.stream:data"]


def test_other_findings_carry_no_size_fields():
    finding = ENGINE.scan(Exchange(direction=INBOUND, dest="x.example:443", body=CURL_PIPE_BASH))[0]
    assert "bytes_total" not in json.loads(finding.to_json())


def test_at_most_five_cut_parts_are_reported_per_exchange():
    headers = [(f"x-pad-{i}", "p" * (BOUND + 1)) for i in range(20)]
    found = incomplete(Exchange(direction=OUTBOUND, dest="x.example:443", headers=headers))
    assert len(found) == 5
