"""Bad input through the live proxy (real mitmdump, scripts/start.py --background, 127.0.0.1).

Broken request lines, bad chunked encoding, wrong Content-Length, invalid UTF-8, binary
bodies, huge headers, very long lines (requests and answers), garbage streams, clients that
vanish mid-body or mid-answer, and compression bombs (a few KiB of gzip, br or zstd that
inflate to gigabytes): after each one a normal client still gets its answer, the monitor
is alive, and its memory stays near where it started, because every decoder stops at
max_scan_bytes. Secrets inside the odd input are still found, and never leak (the
fixture's canary sweep).
"""

from __future__ import annotations

import gzip
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor

import brotli
import pytest
import zstandard
from monitor_fixtures import live_monitor_fixture, upstream_fixture  # noqa: F401 - fixtures

import fakes

pytestmark = pytest.mark.e2e

MIB = 1024
# Resident memory may grow by this much over the whole run of hostile input. Each bomb
# below inflates to 1..4 GiB, so any unbounded decode would blow far past it.
RSS_GROWTH_BOUND_KIB = 160 * MIB
BOMB_GIB = 1 << 30


def gzip_bomb(gib: int) -> bytes:
    """gzip members of 1 MiB of zeros back to back (RFC 1952 allows it): ~1 KiB per MiB."""
    return gzip.compress(b"\0" * (1 << 20), 9) * (1024 * gib)


def nested_gzip_bomb(gib: int) -> bytes:
    """`Content-Encoding: gzip, gzip`: a few KiB that inflate to gib GiB through two layers."""
    return gzip.compress(gzip_bomb(gib), 9)


def brotli_bomb(gib: int, prefix: bytes = b"") -> bytes:
    """One brotli stream: prefix, then gib GiB of zeros (~190 KiB at quality 1)."""
    compressor = brotli.Compressor(quality=1)
    zeros = b"\0" * (1 << 20)
    pieces = [compressor.process(prefix), *(compressor.process(zeros) for _ in range(1024 * gib))]
    return b"".join([*pieces, compressor.finish()])


def zstd_bomb(gib: int) -> bytes:
    """zstd frames of 16 MiB of zeros back to back (read across frames)."""
    return zstandard.ZstdCompressor(level=1).compress(b"\0" * (1 << 24)) * (64 * gib)


def request_head(monitor, upstream, method: str = "POST", path: str = "/ok", headers: str = "",
                 version: str = "HTTP/1.1") -> bytes:
    host = upstream.base.removeprefix("http://")
    return (f"{method} {upstream.base}{path} {version}\r\nHost: {host}\r\n"
            f"Proxy-Authorization: {monitor.proxy_authorization}\r\n{headers}").encode()


def malformed_cases(monitor, upstream, key: str) -> dict[str, bytes | tuple[bytes, bool]]:
    """name -> raw bytes (or (bytes, close right after sending))."""
    auth = f"Proxy-Authorization: {monitor.proxy_authorization}\r\n".encode()
    host = upstream.base.removeprefix("http://").encode()
    head = request_head(monitor, upstream)
    rng = random.Random(8)
    return {
        # broken request lines
        "garbage line": b"GARBAGE\r\n\r\n",
        "method only": b"GET\r\n\r\n",
        "nul bytes in the line": b"\x00\x01\x02 / HTTP/1.1\r\n" + auth + b"\r\n",
        "unknown version": request_head(monitor, upstream, "GET", version="HTTP/9.9") + b"\r\n",
        "extra tokens": b"GET " + upstream.base.encode() + b"/ok HTTP/1.1 extra\r\nHost: " + host + b"\r\n"
                        + auth + b"\r\n",
        "bare LF and no headers end": b"GET " + upstream.base.encode() + b"/ok HTTP/1.1\n" + auth,
        "request line of 1 MiB": b"GET " + upstream.base.encode() + b"/" + b"a" * (1 << 20) + b" HTTP/1.1\r\n"
                                 + auth + b"\r\n",
        "only CRLFs": b"\r\n" * 10000,
        # bad chunked encoding
        "chunk size not hex": head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        "chunk size 2^64": head + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n",
        "chunk longer than announced": head + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n",
        "chunked without the last chunk": (head + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", True),
        "chunk extensions flood": head + b"Transfer-Encoding: chunked\r\n\r\n5;" + b"x=y;" * 50000
                                  + b"\r\nhello\r\n0\r\n\r\n",
        # wrong Content-Length
        "length shorter than body": head + b"Content-Length: 5\r\n\r\n" + b"x" * 500,
        "length longer than body, then close": (head + b"Content-Length: 100000\r\n\r\n" + b"x" * 10, True),
        "negative length": head + b"Content-Length: -1\r\n\r\nabc",
        "length not a number": head + b"Content-Length: abc\r\n\r\nabc",
        "two different lengths": head + b"Content-Length: 3\r\nContent-Length: 30\r\n\r\nabc",
        "length and chunked": head + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        # invalid UTF-8 and binary
        "invalid UTF-8 header and body": head + b"X-Note: \xff\xfe\xc3(\r\nContent-Length: 106\r\n\r\n"
                                         + (b"\xff\xfe\xc3( " + key.encode() + b" \xed\xa0\x80").ljust(106, b"\x80"),
        "binary body": head + b"Content-Type: application/octet-stream\r\nContent-Length: 200000\r\n\r\n"
                       + rng.randbytes(200000),
        "percent garbage in the URL": request_head(monitor, upstream, "GET", path="/%ff%fe%00%zz?k=%c3%28")
                                      + b"\r\n",
        # huge headers
        "one header of 1 MiB": head + b"X-Big: " + b"b" * (1 << 20) + b"\r\nContent-Length: 0\r\n\r\n",
        "10000 headers": head + b"".join(b"X-H%d: v\r\n" % i for i in range(10000)) + b"Content-Length: 0\r\n\r\n",
        # very long lines
        "a 4 MiB body without a newline": head + b"Content-Length: 4194304\r\n\r\n" + b"q" * 4194304,
        "a 4 MiB chunked line": head + b"Transfer-Encoding: chunked\r\n\r\n400000\r\n" + b"q" * 4194304
                                + b"\r\n0\r\n\r\n",
        # clients that vanish mid-body
        "gone mid-body (length)": (head + b"Content-Length: 10000000\r\n\r\n" + b"z" * 65536, True),
        "gone mid-body (chunked)": (head + b"Transfer-Encoding: chunked\r\n\r\n10000\r\n" + b"z" * 3000, True),
        "gone mid-headers": (head[: len(head) // 2], True),
        # answers: very long lines, garbage streams, and clients gone before or during them
        "gone before an 8 MiB answer": (request_head(monitor, upstream, "GET", "/payload/big") + b"\r\n", True),
        "gone after 1 MiB of an 8 MiB answer": request_head(monitor, upstream, "GET", "/payload/big") + b"\r\n",
        "an event stream with a 4 MiB line": request_head(monitor, upstream, "GET", "/payload/sse-long-line")
                                             + b"\r\n",
        "a binary JSON stream": request_head(monitor, upstream, "GET", "/payload/ndjson-binary") + b"\r\n",
        "a corrupt gzip answer": request_head(monitor, upstream, "GET", "/payload/gzip-corrupt") + b"\r\n",
    }


def register_answers(upstream) -> None:
    rng = random.Random(9)
    upstream.payloads.update({
        "big": (b"r" * (8 << 20), {}),
        "sse-long-line": (b"data: " + b"x" * (4 << 20) + b"\n\n", {"Content-Type": "text/event-stream"}),
        "ndjson-binary": (rng.randbytes(300000), {"Content-Type": "application/x-ndjson"}),
        "gzip-corrupt": (b"\x1f\x8b\x08\x00" + rng.randbytes(5000), {"Content-Encoding": "gzip"}),
    })


def test_malformed_requests_leave_the_monitor_serving(live_monitor, upstream):
    monitor = live_monitor({"dedup_window_secs": 0})
    key = fakes.openai_project_key()
    monitor.planted.append(key)
    register_answers(upstream)
    monitor.assert_serves(upstream, "before any bad input")
    baseline = monitor.rss_kib()
    for name, case in malformed_cases(monitor, upstream, key).items():
        data, close_after_send = case if isinstance(case, tuple) else (case, False)
        monitor.outputs.append(monitor.raw(data, read_timeout=1.0, close_after_send=close_after_send))
        monitor.assert_serves(upstream, f"after {name!r}")
    # a secret inside invalid UTF-8 is still found (decoded with replacement characters)
    findings = monitor.wait_findings(lambda f: f["pattern"] == "ai_api_key" and f["location"] == "request.body")
    assert findings, monitor.findings()
    assert monitor.rss_kib() - baseline < RSS_GROWTH_BOUND_KIB
    assert monitor.crash_lines() == []


def test_compression_bombs_are_decoded_only_up_to_the_scan_bound(live_monitor, upstream):
    monitor = live_monitor({"dedup_window_secs": 0})
    key = fakes.anthropic_key()
    monitor.planted.append(key)
    # The planted key sits right at the start of the inflated body, inside the scan bound: the
    # bounded decode still finds it, and stops long before the gigabytes of zeros after it.
    prefix = f"note={key}&pad=".encode()
    bombs = {
        "gzip": (gzip.compress(prefix, 9) + gzip_bomb(1), "gzip"),
        "gzip, gzip": (gzip.compress(gzip.compress(prefix, 9) + gzip_bomb(4), 9), "gzip, gzip"),
        "br": (brotli_bomb(1, prefix), "br"),
        "zstd": (zstandard.ZstdCompressor().compress(prefix) + zstd_bomb(4), "zstd"),
    }
    monitor.assert_serves(upstream, "before the bombs")
    baseline = monitor.rss_kib()
    peak = baseline
    for name, (body, encoding) in bombs.items():
        assert len(body) < 5 * (1 << 20), f"{name} bomb is not small: {len(body)} bytes"
        upstream.payloads[name.replace(", ", "-")] = (body, {"Content-Encoding": encoding})
        status, _ = monitor.request("POST", upstream.base + "/upload", body=body,
                                    headers={"Content-Encoding": encoding,
                                             "Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200, name
        status, received = monitor.request("GET", f"{upstream.base}/payload/{name.replace(', ', '-')}")
        assert (status, received) == (200, body), f"{name}: the client must get the bytes as sent"
        peak = max(peak, monitor.rss_kib())
        monitor.assert_serves(upstream, f"after the {name} bomb")
    found = monitor.wait_findings(lambda f: f["pattern"] == "ai_api_key", count=len(bombs))
    outbound = {f["flow_id"] for f in found}
    assert len(outbound) == len(bombs), "the key at the start of each inflated request body is found"
    # The scanner process inflates the bodies, after the answers went out: its peak tells.
    peak = max(peak, monitor.rss_kib("VmHWM"))
    assert peak - baseline < RSS_GROWTH_BOUND_KIB, f"RSS grew {peak - baseline} KiB decoding bombs"
    assert monitor.crash_lines() == []


FUZZ_SEED = 20260426
FUZZ_CASES = 240
FUZZ_BUDGET_SECS = 60.0
FUZZ_CONNECTIONS = 8
FUZZ_BATCH = 24


def fuzz_inputs(seed: int, count: int, templates: list[bytes]):
    """Mutations of valid requests: byte flips, CR/LF and NUL insertions, cuts, repeats, splices."""
    rng = random.Random(seed)
    specials = [b"\r\n", b"\n", b"\r", b"\0", b":", b" ", b"\xff", b"chunked", b"-1", b"%", b"\r\n\r\n"]
    for _ in range(count):
        data = bytearray(rng.choice(templates))
        for _ in range(rng.randint(1, 6)):
            op = rng.randrange(6)
            position = rng.randrange(len(data) + 1)
            if op == 0 and data:
                data[min(position, len(data) - 1)] ^= 1 << rng.randrange(8)
            elif op == 1:
                data[position:position] = rng.choice(specials)
            elif op == 2:
                del data[position : position + rng.randint(1, 64)]
            elif op == 3:
                piece = data[position : position + rng.randint(1, 32)]
                data[position:position] = piece * rng.randint(2, 200)
            elif op == 4:
                data[position:position] = rng.randbytes(rng.randint(1, 64))
            else:
                data = data[:position]
        yield bytes(data), rng.random() < 0.2


def test_raw_socket_fuzzer_does_not_take_the_monitor_down(live_monitor, upstream):
    """Bounded: a fixed seed, a fixed number of inputs, a time budget; a normal request every 20."""
    monitor = live_monitor({"dedup_window_secs": 0})
    key = fakes.github_token()
    monitor.planted.append(key)
    head = request_head(monitor, upstream)
    body = f'{{"token": "{key}", "note": "fuzz"}}'.encode()
    templates = [
        request_head(monitor, upstream, "GET") + b"\r\n",
        head + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
        head + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n",
        head + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(gzip.compress(body))
        + gzip.compress(body),
        b"CONNECT 127.0.0.1:9 HTTP/1.1\r\nProxy-Authorization: " + monitor.proxy_authorization.encode()
        + b"\r\n\r\n",
    ]
    inputs = list(fuzz_inputs(FUZZ_SEED, FUZZ_CASES, templates))
    deadline = time.monotonic() + FUZZ_BUDGET_SECS
    baseline = monitor.rss_kib()
    sent = 0
    # Inputs go out FUZZ_CONNECTIONS at a time (a cut request makes the proxy wait for more);
    # after each batch a normal client must still be served.
    with ThreadPoolExecutor(FUZZ_CONNECTIONS) as pool:
        for start in range(0, len(inputs), FUZZ_BATCH):
            if time.monotonic() > deadline:
                break
            batch = inputs[start : start + FUZZ_BATCH]
            list(pool.map(lambda case: monitor.raw(case[0], read_timeout=0.3, close_after_send=case[1]), batch))
            sent += len(batch)
            monitor.assert_serves(upstream, f"after fuzz inputs {start}..{start + len(batch) - 1} (seed {FUZZ_SEED})")
    monitor.assert_serves(upstream, "after the fuzzer")
    assert sent >= FUZZ_CASES // 4, f"only {sent} fuzz inputs within {FUZZ_BUDGET_SECS}s"
    assert monitor.rss_kib() - baseline < RSS_GROWTH_BOUND_KIB
    assert os.path.exists(monitor.home / "run" / "state.json")
    assert monitor.crash_lines() == []
