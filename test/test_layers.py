"""The layering of lib/traffic_guardian is a contract a tool checks (SPEC section 2).

scripts/test.sh runs lint-imports on the tree; these tests show that the contract holds
and that it would catch a forbidden import, so a green run means something.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BUNDLE

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("detect", "proxy", "home", "picoclaw", "report", "sources", "control")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="lint-imports is not in this venv")


def _lint(lib: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(lib)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", str(BUNDLE / "pyproject.toml")],
                          cwd=lib.parent, env=env, capture_output=True, text=True, timeout=120)


def _copy_of_lib(tmp_path: Path) -> Path:
    lib = tmp_path / "lib"
    shutil.copytree(BUNDLE / "lib", lib, ignore=shutil.ignore_patterns("__pycache__"))
    return lib


def test_the_tree_keeps_every_import_contract():
    result = _lint(BUNDLE / "lib")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]


@pytest.mark.parametrize(("module", "forbidden"), [
    ("detect/redact.py", "from traffic_guardian.home import config"),  # the engine reads no home
    ("detect/engine.py", "from traffic_guardian.picoclaw import secrets_watch"),  # nor PicoClaw's files
    ("home/counters.py", "from traffic_guardian.proxy import heap"),  # the home knows no proxy
    ("proxy/addon.py", "from traffic_guardian.report import posture"),  # front ends are siblings
    ("report/formatting.py", "import mitmproxy"),  # standard library only outside proxy/
])
def test_a_forbidden_import_breaks_the_contract(tmp_path, module, forbidden):
    lib = _copy_of_lib(tmp_path)
    target = lib / "traffic_guardian" / module
    target.write_text(target.read_text() + f"\n{forbidden}  # noqa\n")
    result = _lint(lib)
    assert result.returncode != 0, f"lint-imports accepted {forbidden!r} in {module}"
    assert "Broken contracts" in result.stdout


def test_no_module_sits_at_the_top_but_the_package_and_its_cli_conventions():
    top = sorted(p.name for p in (BUNDLE / "lib" / "traffic_guardian").glob("*.py"))
    assert top == ["__init__.py", "cli.py"]
    for package in PACKAGES:
        init = BUNDLE / "lib" / "traffic_guardian" / package / "__init__.py"
        assert init.is_file(), package
        doc = init.read_text()
        assert doc.startswith('"""') and "May import" in doc, f"{package}/__init__.py says what it may import"
