"""A live process from /proc: its resident memory and its children (the monitor's scanner)."""

from __future__ import annotations

from pathlib import Path


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """Resident set size of pid in KiB (VmRSS; VmHWM: its peak so far), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def children_of(pid: int) -> list[int]:
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]
