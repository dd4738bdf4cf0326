"""Waiting for what a live monitor writes a moment later (counters each second, findings
from its scanner process, the egress inventory): one polling loop for every fixture."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(fetch: Callable[[], T], done: Callable[[T], bool], timeout: float, interval: float = 0.1) -> T:
    """fetch() until done(result) holds or timeout seconds pass; the last result either way."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(interval)
