"""The systemd examples in config/systemd/ (README "Using it on a gateway"): systemd itself
accepts them with no warning, and every file, flag and path they rely on exists as they say.

The monitor unit runs scripts/start.sh in the foreground, waits in ExecStartPost until
status.py says it runs, and the gateway's drop-in orders itself after it and reads
<home>/run/proxy.env (tested live in test/e2e/test_restart_live.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import BUNDLE
from traffic_guardian.control.proxy_env import PROXY_ENV_FILE
from traffic_guardian.home.guardian_home import resolve_home

UNITS = BUNDLE / "config" / "systemd"
MONITOR_UNIT = UNITS / "picoclaw-traffic-guardian.service"
DROP_IN = UNITS / "picoclaw-gateway.service.d" / "traffic-guardian.conf"


def test_the_units_name_files_that_exist():
    monitor = MONITOR_UNIT.read_text()
    assert "ExecStart=/bin/bash ${BUNDLE}/scripts/start.sh\n" in monitor  # foreground: no --background
    assert (BUNDLE / "scripts" / "start.sh").is_file() and (BUNDLE / "scripts" / "status.py").is_file()
    assert '"$BUNDLE/scripts/status.py" --last 0' in monitor
    home = re.search(r"^Environment=PICOCLAW_TRAFFIC_GUARDIAN_HOME=(\S+)$", monitor, re.M).group(1)
    # The unit's home is the documented default, and the drop-in reads proxy.env from it.
    default = str(resolve_home({"PICOCLAW_HOME": "/HOME/.picoclaw"})).replace("/HOME", "%h")
    assert home == default
    drop_in = DROP_IN.read_text()
    assert f"EnvironmentFile=-{home}/run/{PROXY_ENV_FILE}" in drop_in
    assert "After=picoclaw-traffic-guardian.service" in drop_in
    assert "Requires=picoclaw-traffic-guardian.service" in drop_in


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units_without_a_warning(tmp_path):
    shutil.copy(MONITOR_UNIT, tmp_path)
    (tmp_path / "picoclaw-gateway.service").write_text("[Unit]\nDescription=gateway\n[Service]\nExecStart=/bin/true\n")
    (tmp_path / "picoclaw-gateway.service.d").mkdir()
    shutil.copy(DROP_IN, tmp_path / "picoclaw-gateway.service.d")
    for unit in ("picoclaw-traffic-guardian.service", "picoclaw-gateway.service"):
        verify = subprocess.run(["systemd-analyze", "verify", str(tmp_path / unit)], capture_output=True, text=True,
                                timeout=60)
        assert verify.returncode == 0 and verify.stderr.strip() == "", (unit, verify.stderr)
