"""The scan queue (SPEC 10): scans off the event loop, in order, never skipped, bounded."""

from __future__ import annotations

import threading
import time

from traffic_guardian.exchange import OUTBOUND, Exchange
from traffic_guardian.scan_queue import ScanQueue


def exchange(n: int, size: int = 10) -> Exchange:
    return Exchange(direction=OUTBOUND, dest="h.example:443", source="127.0.0.1:1", protocol="https",
                    method="POST", url="https://h.example/", headers=[], body=b"x" * size, flow_id=str(n))


def test_before_start_and_after_stop_submit_scans_on_the_calling_thread():
    threads = []
    queue = ScanQueue(lambda _exchange: threads.append(threading.current_thread()))
    queue.submit(exchange(1))
    queue.start()
    queue.stop()
    queue.submit(exchange(2))
    assert threads == [threading.current_thread()] * 2


def test_exchanges_are_scanned_in_order_on_one_thread_and_stop_drains():
    seen, threads = [], set()

    def scan(item):
        time.sleep(0.001)
        seen.append(item.flow_id)
        threads.add(threading.current_thread().name)

    queue = ScanQueue(scan)
    queue.start()
    for n in range(50):
        queue.submit(exchange(n))
    queue.stop()
    assert seen == [str(n) for n in range(50)]
    assert threads == {"traffic-guardian-scan"}


def test_a_full_queue_makes_submit_wait_instead_of_dropping_or_growing():
    release = threading.Event()
    waits = []
    high_water = []
    queue = ScanQueue(lambda _e: release.wait(10), max_items=3, max_bytes=10**9, on_wait=lambda: waits.append(1))
    queue.start()
    done = []

    def producer():
        for n in range(10):
            queue.submit(exchange(n))
            high_water.append(len(queue._items))
        done.append(True)

    thread = threading.Thread(target=producer)
    thread.start()
    time.sleep(0.3)
    assert not done and waits, "the producer waits for room"
    release.set()
    thread.join(10)
    queue.stop()
    assert done and max(high_water) <= 3


def test_the_byte_bound_holds_but_one_large_body_still_gets_in():
    release = threading.Event()
    queue = ScanQueue(lambda _e: release.wait(10), max_bytes=100)
    queue.start()
    queue.submit(exchange(1, size=10))  # taken by the thread at once
    time.sleep(0.1)
    queue.submit(exchange(2, size=500))  # larger than the bound, queue empty: admitted
    waited = []
    thread = threading.Thread(target=lambda: (queue.submit(exchange(3, size=10)), waited.append(True)))
    thread.start()
    time.sleep(0.2)
    assert not waited
    release.set()
    thread.join(10)
    queue.stop()
    assert waited


def test_a_scan_that_raises_does_not_stop_the_thread():
    seen = []

    def scan(item):
        if item.flow_id == "1":
            raise RuntimeError("bug")
        seen.append(item.flow_id)

    queue = ScanQueue(scan)
    queue.start()
    for n in range(3):
        queue.submit(exchange(n))
    assert queue.drain(10)
    queue.stop()
    assert seen == ["0", "2"] and queue.errors == 1
