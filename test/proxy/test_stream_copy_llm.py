"""StreamCopy with an LLM stream reassembler (stream_copy.py + llm_streams.py): chunks pass
unchanged, each reassembled block reaches on_texts once as it closes, no raw copy is kept,
and a compressed stream's decoded copy is reassembled at the end by exchanges_from_stream."""

from __future__ import annotations

from llm_fixtures import CURL_PIPE_BASH, anthropic_stream, split_in, tool_input
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import UNKNOWN_SIZE, Exchange
from traffic_guardian.detect.llm_streams import TEXT, TOOL_CALL, reassembler_for
from traffic_guardian.proxy.stream_copy import StreamCopy, exchanges_from_stream

EVENTS = anthropic_stream(text_pieces=split_in("I'll install it for you.", 4),
                          tool_pieces=split_in(tool_input(CURL_PIPE_BASH), 10))


def test_chunks_pass_unchanged_and_each_block_is_handed_over_once():
    delivered, batches, finished = [], [], []
    copy = StreamCopy(262144, finished.append, reassembler=reassembler_for("text/event-stream"),
                      on_texts=batches.append)
    data = b"".join(EVENTS)
    for i in range(0, len(data), 13):
        delivered.append(copy(data[i : i + 13]))
    assert copy(b"") == b""
    assert b"".join(delivered) == data
    assert [[t.location for t in batch] for batch in batches] == [[TEXT], [TOOL_CALL]]
    assert finished == [copy] and copy.data == b""  # no raw copy: the reassembler bounds itself
    copy.finish()
    assert len(batches) == 2 and finished == [copy]  # finish is idempotent


def test_a_failing_on_texts_is_reported_and_the_stream_goes_on():
    errors = []

    def broken(_texts):
        raise RuntimeError("scan failed")

    copy = StreamCopy(1024, lambda _c: None, lambda where, exc: errors.append(where),
                      reassembler=reassembler_for("text/event-stream"), on_texts=broken)
    assert [copy(event) for event in EVENTS] == EVENTS
    assert errors  # reported, swallowed


def test_exchanges_from_stream_reassembles_a_decoded_copy_and_keeps_headers_apart():
    exchange = Exchange(direction="inbound", dest="llm.local:443", body=b"".join(EVENTS),
                        headers=[("content-type", "text/event-stream")], content_type="text/event-stream")
    parts = exchanges_from_stream(exchange)
    assert [(p.location_of_body(), bool(p.headers)) for p in parts] == [
        ("response.body", True), (TEXT, False), (TOOL_CALL, False)]
    assert parts[0].body == b""
    found = [f for part in parts for f in Engine().scan(part)]
    assert [(f.pattern, f.location) for f in found] == [("pipe_to_shell", TOOL_CALL)]


def test_other_streams_are_scanned_as_they_are():
    exchange = Exchange(direction="inbound", dest="h:80", body=b"abc", content_type="image/png")
    assert exchanges_from_stream(exchange) == [exchange]
    outbound = Exchange(direction="outbound", dest="h:80", body=b"data: x\n\n",
                        content_type="text/event-stream")
    assert exchanges_from_stream(outbound) == [outbound]


def test_a_stream_copy_cut_at_its_bound_reports_the_cut_on_its_last_text():
    exchange = Exchange(direction="inbound", dest="llm.local:443", body=b"".join(EVENTS),
                        headers=[("content-type", "text/event-stream")], content_type="text/event-stream",
                        body_total=UNKNOWN_SIZE)  # a compressed stream, inflated from a cut copy
    parts = exchanges_from_stream(exchange)
    found = [(f.pattern, f.location, f.bytes_total) for part in parts for f in Engine().scan(part)
             if f.pattern == "scan_incomplete"]
    assert found == [("scan_incomplete", TOOL_CALL, None)]
    assert parts[0].body_total is None  # the headers are whole
    raw = Exchange(direction="inbound", dest="llm.local:443", body=b"\x00\x01 not events", body_total=UNKNOWN_SIZE,
                   content_type="text/event-stream")
    assert [f.pattern for part in exchanges_from_stream(raw) for f in Engine().scan(part)] == ["scan_incomplete"]
