"""DeferredScans: the body hooks note messages; one callback builds and hands them off together."""

from __future__ import annotations

import asyncio

import pytest

from traffic_guardian.detect.exchange import OUTBOUND, Exchange
from traffic_guardian.proxy.deferred_scans import DeferredScans


def build(name: str) -> Exchange:
    if name == "bad":
        raise ValueError("cannot build")
    return Exchange(direction=OUTBOUND, dest="h:80", flow_id=name)


@pytest.fixture
def handed():
    return []


@pytest.fixture
def errors():
    return []


def deferred(handed, errors, **kwargs) -> DeferredScans:
    return DeferredScans(handed.append, lambda where, exc: errors.append((where, str(exc))), **kwargs)


def started(handed, errors, **kwargs) -> DeferredScans:
    """One on the running loop: call it inside asyncio.run."""
    scans = deferred(handed, errors, **kwargs)
    scans.start(asyncio.get_running_loop())
    return scans


def names(handed) -> list[str]:
    return [exchange.flow_id for exchange in handed]


def test_without_an_event_loop_each_message_is_handed_off_at_once(handed, errors):
    scans = deferred(handed, errors)
    scans.add(build, "a")
    assert names(handed) == ["a"]


def test_once_started_messages_wait_for_one_callback_and_go_in_order(handed, errors):
    async def scenario():
        scans = started(handed, errors, delay=0.01)
        for name in ("a", "b", "c"):
            scans.add(build, name)
        assert handed == []  # the hooks only noted them
        await asyncio.sleep(0.05)
        assert names(handed) == ["a", "b", "c"]
        scans.add(build, "d")
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert names(handed) == ["a", "b", "c", "d"]


def test_the_message_that_fills_the_list_drains_it_at_once(handed, errors):
    async def scenario():
        scans = started(handed, errors, delay=10.0, max_pending=3)
        scans.add(build, "a")
        scans.add(build, "b")
        assert handed == []
        scans.add(build, "c")
        assert names(handed) == ["a", "b", "c"]

    asyncio.run(scenario())


def test_a_message_that_fails_to_build_is_reported_and_the_rest_still_go(handed, errors):
    async def scenario():
        scans = started(handed, errors, delay=10.0)
        for name in ("a", "bad", "c"):
            scans.add(build, name)
        scans.drain()

    asyncio.run(scenario())
    assert names(handed) == ["a", "c"]
    assert errors == [("scan", "cannot build")]


def test_a_failing_hand_off_is_reported_like_a_failing_build(errors):
    def refuse(_exchange):
        raise OSError("pipe closed")

    scans = DeferredScans(refuse, lambda where, exc: errors.append((where, str(exc))))
    scans.add(build, "a")
    assert errors == [("scan", "pipe closed")]


def test_drain_at_shutdown_hands_off_what_is_still_noted(handed, errors):
    async def scenario():
        scans = started(handed, errors, delay=10.0)
        scans.add(build, "a")
        scans.drain()
        assert names(handed) == ["a"]

    asyncio.run(scenario())
