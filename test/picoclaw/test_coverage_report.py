"""validate.py on a full v3 PicoClaw home: every secret by owner and kind, what cannot be watched, and
every egress path the config creates with whether it goes through the monitor. Never a value."""

from __future__ import annotations

import json
from pathlib import Path

from canary import assert_no_leak
from conftest import run_script
from picoclaw_v3_home import write_v3_home
from traffic_guardian.detect.redact import Redactor
from traffic_guardian.home.guardian_home import GuardianHome

BYPASSES = {  # owner -> (route, a word of the reason)
    "channel:irc": ("bypass", "raw TCP"), "channel:mqtt": ("bypass", "raw TCP"),
    "channel:whatsapp": ("bypass", "loopback"), "model:ollama-local": ("bypass", "loopback"),
    "model:github-copilot-main": ("bypass", "loopback"), "skill:clawhub": ("bypass", "without a proxy"),
    "mcp:gh": ("unknown", "NODE_USE_ENV_PROXY"), "model:claude-cli-main": ("unknown", "local CLI"),
}


def test_validate_lists_every_secret_by_owner_and_kind_and_every_bypass(guardian_env):
    v3 = write_v3_home(Path(guardian_env["PICOCLAW_HOME"]))
    env = {**guardian_env, **v3.env}
    home = GuardianHome(Path(guardian_env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"]))
    home.ensure_dir()
    fingerprint = Redactor(home.fingerprint_key(create=True)).fingerprint  # the key a first start makes
    machine = run_script("validate.py", "--json", env=env)
    assert machine.returncode == 0, machine.stderr
    report = json.loads(machine.stdout)["known_secrets"]
    assert report["config_version"] == 3 and report["unwatchable"] == []
    assert {line["owner"] for line in report["owners"]} == set(v3.owners.values())
    assert sum(line["values"] for line in report["owners"]) == len(v3.owners)
    assert sorted(fp for line in report["owners"] for fp in line["fingerprints"]) == sorted(
        fingerprint(value) for value in v3.owners)  # the same salted fingerprints status and findings show
    assert {line["kind"] for line in report["owners"]} == {
        "model_api_key", "channel_secret", "web_tool_key", "voice_key", "skill_token", "mcp_credential", "oauth_token"}
    routes = {line["owner"]: line for line in report["coverage"]}
    for owner, (route, word) in BYPASSES.items():
        assert routes[owner]["route"] == route and word in routes[owner]["reason"], owner
    assert routes["model:openai-main"]["route"] == "monitor" and routes["channel:wecom"]["route"] == "monitor"
    voice = [line for line in report["coverage"] if line["config_path"] == "channel_list.discord (voice)"]
    assert [(line["route"], "UDP" in line["reason"]) for line in voice] == [("bypass", True)]
    assert report["environment_secrets"] == 1

    human = run_script("validate.py", env=env)
    lines = human.stderr.decode().splitlines()
    assert "validate.py: known secrets: PicoClaw config version 3" in lines
    assert any(line.startswith("validate.py: secret: channel:work_bot channel_secret x1 (fp ") for line in lines)
    assert any(line.startswith("validate.py: egress: bypass: channel:irc -> irc.libera.chat (channel_list.irc)")
               for line in lines)
    assert_no_leak(v3.values, home=guardian_env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"],
                   outputs=[machine.stdout, machine.stderr, human.stdout, human.stderr])


def test_an_enc_value_without_the_passphrase_is_reported_as_not_watchable(guardian_env):
    v3 = write_v3_home(Path(guardian_env["PICOCLAW_HOME"]))
    human = run_script("validate.py", env=guardian_env)  # the gateway's passphrase is not in this environment
    assert human.returncode == 0, human.stderr
    lines = human.stderr.decode().splitlines()
    assert ("validate.py: not watchable: model:mistral-main model_api_key in .security.yml: enc:// value: "
            "PICOCLAW_KEY_PASSPHRASE is not set for the monitor") in lines
    assert any(line.endswith(" watched, 1 not watchable") for line in lines)
    assert_no_leak(v3.values, outputs=[human.stdout, human.stderr])
