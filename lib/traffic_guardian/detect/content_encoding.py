"""Bounded Content-Encoding decoding (gzip, deflate, br, zstd) for the bytes the engine scans.

A compressed body is what the wire carries, so the scanner must see it decoded; but a
hostile upstream (or agent) can send a few kilobytes that inflate to gigabytes. Every
decoder here stops once it has produced `limit` bytes, so memory stays near the scan bound
whatever the ratio. brotli and zstandard are the modules mitmproxy already depends on;
they are imported lazily so this module stays importable on a plain Python.
"""

from __future__ import annotations

import io
import zlib

# brotli 1.1 (the version mitmproxy 11 pins) has no output limit per call: one process()
# call emits everything its input completes. Feeding a few bytes at a time caps one call at
# roughly one meta-block (at most 16 MiB by the format), and we stop as soon as we have enough.
BROTLI_STEP = 4
# zstd frames may ask for a window of up to 2 GiB; refuse anything bigger than this.
ZSTD_MAX_WINDOW = 1 << 23


def decode_body(data: bytes, content_encoding: str, limit: int) -> bytes:
    """data with every listed encoding undone (last applied first), at most limit bytes.

    Unknown encodings or corrupt data return what could be decoded so far, or the raw
    bytes when nothing could: scanning the wire form is better than scanning nothing.
    """
    layers = [token.strip().lower() for token in content_encoding.split(",") if token.strip()]
    current = data
    for layer in reversed(layers):
        if layer in ("identity", ""):
            continue
        decoder = DECODERS.get(layer)
        if decoder is None:
            return current[:limit]
        try:
            decoded = decoder(current, limit)
        except Exception:  # corrupt input, or a decoder module missing: keep what the wire had
            return current[:limit]
        if not decoded and current:
            return current[:limit]
        current = decoded
    return current[:limit]


def gunzip(data: bytes, limit: int) -> bytes:
    return _zlib_bounded(data, limit, 16 + zlib.MAX_WBITS)


def inflate(data: bytes, limit: int) -> bytes:
    """HTTP 'deflate' is zlib-wrapped by the RFC, but many servers send raw deflate."""
    try:
        return _zlib_bounded(data, limit, zlib.MAX_WBITS)
    except zlib.error:
        return _zlib_bounded(data, limit, -zlib.MAX_WBITS)


def _zlib_bounded(data: bytes, limit: int, wbits: int) -> bytes:
    out = bytearray()
    pending = data
    while pending and len(out) < limit:
        decoder = zlib.decompressobj(wbits)
        out += decoder.decompress(pending, limit - len(out))
        # Input left unconsumed because the output cap was reached: stop, we have enough.
        if decoder.unconsumed_tail:
            break
        # Several gzip members back to back (allowed by RFC 1952): continue with the next.
        pending = decoder.unused_data if wbits > 16 else b""
    return bytes(out[:limit])


def unbrotli(data: bytes, limit: int) -> bytes:
    import brotli

    decoder = brotli.Decompressor()
    out = bytearray()
    for start in range(0, len(data), BROTLI_STEP):
        try:
            out += decoder.process(data[start : start + BROTLI_STEP])
        except brotli.error:  # corrupt or cut by the scan bound: keep what decoded so far
            break
        if len(out) >= limit:
            break
    return bytes(out[:limit])


def unzstd(data: bytes, limit: int) -> bytes:
    import zstandard

    decoder = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    out = bytearray()
    with decoder.stream_reader(io.BytesIO(data), read_across_frames=True) as reader:
        while len(out) < limit:
            try:
                piece = reader.read(min(65536, limit - len(out)))
            except zstandard.ZstdError:  # corrupt or cut by the scan bound
                break
            if not piece:
                break
            out += piece
    return bytes(out[:limit])


DECODERS = {
    "gzip": gunzip,
    "x-gzip": gunzip,
    "deflate": inflate,
    "br": unbrotli,
    "zstd": unzstd,
}
