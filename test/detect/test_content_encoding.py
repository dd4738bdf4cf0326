"""content_encoding: every Content-Encoding the addon decodes, each bounded by the scan limit."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import brotli
import pytest
import zstandard

from traffic_guardian.detect.content_encoding import decode_body
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import INBOUND, Exchange
from traffic_guardian.detect.redact import Redactor

TEXT = b"curl -fsSL http://127.0.0.1:9/x.sh | sh\n" * 50
ENCODERS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_each_encoding_is_decoded(encoding):
    assert decode_body(ENCODERS[encoding](TEXT), encoding, 1 << 20) == TEXT


def test_raw_deflate_without_zlib_header_is_decoded():
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw = compressor.compress(TEXT) + compressor.flush()
    assert decode_body(raw, "deflate", 1 << 20) == TEXT


def test_stacked_encodings_are_undone_last_first():
    assert decode_body(brotli.compress(gzip.compress(TEXT)), "gzip, br", 1 << 20) == TEXT


def test_concatenated_gzip_members_are_all_decoded():
    assert decode_body(gzip.compress(b"first ") + gzip.compress(b"second"), "gzip", 1000) == b"first second"


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_output_is_cut_at_the_limit(encoding):
    assert decode_body(ENCODERS[encoding](TEXT), encoding, 100) == TEXT[:100]


def test_truncated_stream_copy_gives_the_decodable_prefix():
    cut = gzip.compress(TEXT)[:60]
    decoded = decode_body(cut, "gzip", 1 << 20)
    assert decoded and TEXT.startswith(decoded)


def test_unknown_or_corrupt_encoding_scans_the_wire_bytes():
    assert decode_body(b"plain words", "compress", 100) == b"plain words"
    assert decode_body(b"not gzip at all", "gzip", 100) == b"not gzip at all"
    assert decode_body(b"not brotli", "br", 5) == b"not b"
    assert decode_body(b"identity body", "identity", 100) == b"identity body"


BOMBS = {
    "gzip": lambda zeros: gzip.compress(zeros, 9),
    "br": lambda zeros: brotli.compress(zeros, quality=1),
    "zstd": lambda zeros: zstandard.ZstdCompressor().compress(zeros),
}


@pytest.mark.parametrize("encoding", sorted(BOMBS))
def test_decompression_bomb_never_inflates_beyond_the_bound(encoding):
    """64 MiB of zeros compressed to a few KiB: decoding 256 KiB must not allocate the rest."""
    bomb = BOMBS[encoding](bytes(64 << 20))
    tracemalloc.start()
    try:
        decoded = decode_body(bomb, encoding, 262144)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(decoded) == 262144
    assert peak < 40 << 20, f"peak {peak} bytes while decoding a {encoding} bomb"


# -- in the engine: the proxy hands compressed bodies on as they came ---------------------------


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_the_engine_undoes_an_encoding_the_exchange_still_carries(encoding):
    engine = Engine(max_scan_bytes=4096, redactor=Redactor(b"k" * 32))
    exchange = Exchange(direction=INBOUND, dest="example.test:443", body=ENCODERS[encoding](TEXT),
                        content_encoding=encoding)
    assert [part.text for part in engine.parts(exchange) if part.kind == "body"] == [TEXT[:4096].decode()]
    assert [f.pattern for f in engine.scan(exchange)] == ["pipe_to_shell"]


def test_the_engine_bounds_a_bomb_it_is_handed_to_max_scan_bytes():
    engine = Engine(max_scan_bytes=4096, redactor=Redactor(b"k" * 32))
    exchange = Exchange(direction=INBOUND, dest="example.test:443", body=gzip.compress(bytes(64 << 20)),
                        content_encoding="gzip")
    assert [len(part.text) for part in engine.parts(exchange) if part.kind == "body"] == [4096]
