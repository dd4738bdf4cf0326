"""Run a client as scripts/start.py's scoped child in the foreground, as an operator would.

The monitor starts, the child gets the proxy variables, the monitor stops when the child
ends. A hung run is killed by process group (start.py, mitmdump and the client together)
and stop.py always runs afterwards, so a failing test leaves nothing behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SCRIPTS


def run_scoped(guardian_env: dict, config: Path, argv: list[str], timeout: float = 120) -> tuple[bytes, bytes]:
    """(stdout, stderr) of `start.py --config CONFIG -- ARGV...`; fails the test unless it exits 0."""
    command = [sys.executable, str(SCRIPTS / "start.py"), "--config", str(config), "--", *argv]
    process = subprocess.Popen(command, env=guardian_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group we started: start.py, mitmdump, client
        stdout, stderr = process.communicate()
        pytest.fail(f"monitored client hung: {stderr.decode(errors='replace')[-2000:]}")
    finally:
        subprocess.run([sys.executable, str(SCRIPTS / "stop.py")], env=guardian_env, capture_output=True,
                       timeout=60)
    assert process.returncode == 0, stderr.decode(errors="replace")[-2000:]
    return stdout, stderr
