"""StreamCopy: chunks pass unchanged, the copy is bounded, the end is signalled once, errors never escape."""

from __future__ import annotations

from traffic_guardian.proxy.stream_copy import StreamCopy


def test_chunks_pass_unchanged_and_copy_is_bounded():
    finished = []
    copy = StreamCopy(10, finished.append)
    assert copy(b"abcdef") == b"abcdef"
    assert copy(b"ghijklmnop") == b"ghijklmnop"
    assert copy.data == b"abcdefghij" and copy.total == 16 and copy.truncated
    assert copy(b"") == b""
    assert finished == [copy]


def test_finish_is_idempotent_for_end_of_stream_and_error_paths():
    finished = []
    copy = StreamCopy(10, finished.append)
    copy(b"")
    copy.finish()
    assert len(finished) == 1


def test_an_exception_while_finishing_is_reported_and_the_chunk_still_passes():
    errors = []

    def explode(_copy):
        raise RuntimeError("scan failed")

    copy = StreamCopy(10, explode, lambda where, exc: errors.append((where, str(exc))))
    assert copy(b"data") == b"data"
    assert copy(b"") == b""
    assert errors == [("stream", "scan failed")]
