"""Giving freed heap memory back to the system (glibc's malloc_trim).

glibc keeps memory that Python frees in the process, for reuse; after a burst of 64 KiB
bodies a monitor can sit on 15-20 MB it no longer uses (measured with the bench's RSS
load: 103 -> 89 MB after one trim). The monitor trims every TRIM_INTERVAL_SECS from its
counters flush, and the scanner process once its Hyperscan compile is done. Elsewhere
(macOS, musl) there is nothing to trim this way and trim() does nothing.
"""

from __future__ import annotations

import ctypes

TRIM_INTERVAL_SECS = 10.0  # a trim takes 1-10 ms of the event loop; a few per minute cost nothing


def trim() -> bool:
    """Return freed heap to the system; False where the C library has no malloc_trim."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True
