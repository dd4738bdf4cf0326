"""Shared fixtures: a temporary guardian home and a way to run the bundle's scripts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BUNDLE = Path(__file__).resolve().parents[1]
SCRIPTS = BUNDLE / "scripts"


@pytest.fixture
def guardian_env(tmp_path, monkeypatch):
    """Environment with a fresh PICOCLAW_TRAFFIC_GUARDIAN_HOME and no proxy or guardian overrides."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PICOCLAW_") and k.lower() not in ("http_proxy", "https_proxy", "no_proxy",
                                                                      "all_proxy")}
    env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"] = str(tmp_path / "home")
    env["PICOCLAW_HOME"] = str(tmp_path / "picoclaw")
    for key in list(os.environ):
        if key.startswith("PICOCLAW_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PICOCLAW_TRAFFIC_GUARDIAN_HOME", env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"])
    monkeypatch.setenv("PICOCLAW_HOME", env["PICOCLAW_HOME"])
    return env


@pytest.fixture
def guardian_home(guardian_env) -> Path:
    return Path(guardian_env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"])


def run_script(name: str, *args: str, env: dict | None = None, input: bytes | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess:
    """Run scripts/<name> as an operator would: .py with this Python, .sh with bash."""
    path = SCRIPTS / name
    command = [sys.executable, str(path)] if name.endswith(".py") else ["bash", str(path)]
    return subprocess.run([*command, *args], env=env, input=input, capture_output=True, timeout=timeout)
