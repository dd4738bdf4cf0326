"""heap.trim gives freed memory back where glibc can, and is harmless where it cannot."""

from __future__ import annotations

import sys

import pytest

from traffic_guardian.proxy import heap


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_trim_runs_on_linux():
    assert heap.trim() is True


def test_trim_without_the_c_function_does_nothing(monkeypatch):
    class NoTrim:
        def __init__(self, _name):
            pass

    monkeypatch.setattr(heap.ctypes, "CDLL", NoTrim)
    assert heap.trim() is False
