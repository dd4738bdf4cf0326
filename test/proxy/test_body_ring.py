"""The body ring (SPEC 10): bodies handed to the scanner through shared memory, in order,
never overlapping one that is still unanswered; what does not fit takes the pipe."""

from __future__ import annotations

import mmap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traffic_guardian.proxy.body_ring import BodyRing, read_body

pytestmark = pytest.mark.skipif(BodyRing.create(4096) is None, reason="no memfd on this platform")


def scanner_view(ring: BodyRing) -> mmap.mmap:
    """The ring as the scanner maps it: read-only, from the inherited descriptor."""
    return mmap.mmap(ring.fd, 0, prot=mmap.PROT_READ)


def test_bodies_are_placed_one_after_another_and_read_back_by_the_scanner():
    ring = BodyRing(1024)
    view = scanner_view(ring)
    assert ring.put(b"a" * 100) == 0
    assert ring.put(b"b" * 200) == 100
    assert read_body(view, 100, 200) == b"b" * 200
    ring.close()


def test_a_body_that_does_not_fit_gets_none_and_takes_the_pipe():
    ring = BodyRing(1024)
    assert ring.put(b"x" * 1025) is None  # larger than the ring
    assert ring.put(b"") is None  # nothing to share
    assert ring.put(b"x" * 1000) == 0
    assert ring.put(b"y" * 100) is None  # full until the oldest is answered
    ring.release()
    assert ring.put(b"y" * 100) == 0
    ring.close()


def test_space_is_reused_from_the_start_once_the_oldest_bodies_are_answered():
    ring = BodyRing(1000)
    assert [ring.put(b"x" * 300) for _ in range(3)] == [0, 300, 600]
    assert ring.put(b"y" * 200) is None  # 100 left at the end, nothing free at the start
    ring.release()
    assert ring.put(b"y" * 200) == 0  # wraps into the answered body's space
    assert ring.put(b"z" * 200) is None  # 100 left between the new body and the oldest
    assert ring.put(b"z" * 100) == 200
    ring.clear()
    assert ring.put(b"w" * 1000) == 0
    ring.close()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.one_of(st.integers(min_value=1, max_value=700), st.just(0)), max_size=60))
def test_an_unanswered_body_is_never_overwritten(steps):
    """Random puts (a size) and answers (0): every body still unanswered reads back intact."""
    ring = BodyRing(2048)
    view = scanner_view(ring)
    unanswered: list[tuple[int, bytes]] = []
    for serial, step in enumerate(steps):
        if step == 0:
            if unanswered:
                unanswered.pop(0)
                ring.release()
            continue
        body = bytes([serial % 251]) * step
        offset = ring.put(body)
        if offset is not None:
            assert 0 <= offset and offset + step <= ring.size
            unanswered.append((offset, body))
        elif not unanswered:
            pytest.fail("an empty ring refused a body that fits")
        for where, kept in unanswered:
            assert read_body(view, where, len(kept)) == kept
    view.close()
    ring.close()
