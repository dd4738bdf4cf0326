"""The skill bundle itself: layout, metadata that agrees with the code, quick start that CI runs."""

from __future__ import annotations

import json
import os
import re
import subprocess

from conftest import BUNDLE
from traffic_guardian import VERSION

SHIPPED_DIRS = ("lib", "scripts", "config")


def _skill_json() -> dict:
    return json.loads((BUNDLE / "skill.json").read_text())


def _frontmatter() -> str:
    text = (BUNDLE / "SKILL.md").read_text()
    assert text.startswith("---\n")
    return text.split("---\n", 2)[1]


def _tracked_files() -> set[str]:
    listing = subprocess.run(["git", "ls-files", *SHIPPED_DIRS], cwd=BUNDLE, capture_output=True, text=True)
    if listing.returncode != 0:  # not a git checkout (an unpacked release): take the tree
        return {str(p.relative_to(BUNDLE)) for d in SHIPPED_DIRS for p in (BUNDLE / d).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    return set(listing.stdout.split())


def test_top_level_layout_is_a_skill_folder():
    for name in ("SKILL.md", "SPEC.md", "README.md", "CHANGELOG.md", "skill.json", "requirements.txt"):
        assert (BUNDLE / name).is_file(), name
    for name in ("lib", "scripts", "test", "config", "bench"):
        assert (BUNDLE / name).is_dir(), name


def test_versions_agree_across_skill_md_skill_json_and_code():
    assert re.search(rf"^version: {re.escape(VERSION)}$", _frontmatter(), re.M)
    assert _skill_json()["version"] == VERSION
    assert f"## {VERSION}" in (BUNDLE / "CHANGELOG.md").read_text()


def test_skill_md_frontmatter_has_the_clawsec_fields():
    front = _frontmatter()
    for key in ("name: picoclaw-traffic-guardian", "description:", "homepage:", "license:", "metadata:",
                "picoclaw:", "bins:"):
        assert key in front, key


def test_sbom_lists_every_shipped_file_and_only_files_that_exist():
    listed = {entry["path"] for entry in _skill_json()["sbom"]["files"]}
    for path in listed:
        assert (BUNDLE / path).is_file(), f"skill.json lists missing file {path}"
    shipped = {p for p in _tracked_files() if not p.endswith(".gitkeep")}
    assert shipped - listed == set(), "shipped files missing from skill.json sbom"
    for entry in _skill_json()["sbom"]["files"]:
        assert isinstance(entry.get("required"), bool) and entry.get("description"), entry["path"]


def test_skill_json_declares_every_environment_override():
    optional = set(_skill_json()["picoclaw"]["runtime"]["optional_env"])
    for suffix in ("HOME", "CONFIG", "MODE", "PROXY_URL", "CA_BUNDLE", "LOG_DIR", "MAX_SCAN_BYTES",
                   "REDACT_SNIPPETS", "PROFILE_OUTPUT"):
        assert f"PICOCLAW_TRAFFIC_GUARDIAN_{suffix}" in optional


def test_every_script_is_executable_and_answers_help(guardian_env):
    for script in sorted((BUNDLE / "scripts").iterdir()):
        if script.suffix not in (".py", ".sh"):
            continue
        assert os.access(script, os.X_OK), f"{script.name} is not executable"
        result = subprocess.run([str(script), "--help"], env=guardian_env, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, f"{script.name} --help: exit {result.returncode}: {result.stderr[-300:]}"
        assert len(result.stdout + result.stderr) > 40, f"{script.name} --help printed nothing useful"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (BUNDLE / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.split("```bash", 1)[1].split("```", 1)[0].splitlines()]
    commands = [c for c in commands if c]
    assert commands == ["scripts/demo.sh", "scripts/test.sh"]
    ci = (BUNDLE / ".ci" / "run").read_text()
    assert "exec bash scripts/test.sh" in ci


def test_no_two_shipped_files_share_a_base_name():
    """ClawSec's packager keys a bundle's files by base name; only package __init__.py files may repeat."""
    by_name: dict[str, list[str]] = {}
    for path in sorted(_tracked_files()):
        name = path.rsplit("/", 1)[-1]
        if name != "__init__.py" and not name.endswith(".gitkeep"):
            by_name.setdefault(name, []).append(path)
    assert {name: paths for name, paths in by_name.items() if len(paths) > 1} == {}
