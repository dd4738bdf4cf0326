#!/usr/bin/env python3
"""Validate the guardian configuration without starting or writing anything.

Reads defaults, the config file (--config, $PICOCLAW_TRAFFIC_GUARDIAN_CONFIG or
<home>/config.json) and PICOCLAW_TRAFFIC_GUARDIAN_* overrides. Each problem is one line
naming the key. A guardian home that start.sh would refuse (a symlink or a file where a
directory must be, another user's directory, a symlink planted where the monitor writes,
an option file in mitmproxy's confdir) fails too, with start.sh's message. Exit 0 when
valid, 2 when not. --json prints one JSON object instead.

It also reports what the monitor would make of the PicoClaw home (never a value): the
files read, every secret by owner and kind (count and this home's salted fingerprints),
secrets it cannot watch and why (an enc:// it cannot open, a missing file:// target), and
every egress path the PicoClaw config creates with whether it goes through the monitor.
PICOCLAW_* variables are read from this process's environment: run validate with the
gateway's environment to see what the gateway would use.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from traffic_guardian.cli import EXIT_OK, EXIT_USAGE  # noqa: E402
from traffic_guardian.control.launch import LaunchError, refuse_planted_paths  # noqa: E402
from traffic_guardian.detect.redact import Redactor  # noqa: E402
from traffic_guardian.home.config import ConfigError, load_config  # noqa: E402
from traffic_guardian.picoclaw.config_files import CURRENT_VERSION, known_secrets_report  # noqa: E402

PROGRAM = "validate.py"


def home_problems(config) -> list[str]:
    """What start.sh would refuse about the home: its directories, then planted paths."""
    problems = config.home.problems()
    if problems or not config.home.root.is_dir():
        return problems
    try:
        refuse_planted_paths(config, config.home)
    except LaunchError as error:
        return [str(error)]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="config file to validate")
    parser.add_argument("--json", action="store_true", help="print a JSON object on stdout instead of lines")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        if args.json:
            print(json.dumps({"valid": False, "source": error.source,
                              "problems": [{"key": p.key, "message": p.message} for p in error.problems]}))
        else:
            for problem in error.problems:
                print(f"{PROGRAM}: {problem.line(error.source)}", file=sys.stderr)
        return EXIT_USAGE
    unusable = home_problems(config)
    if unusable:  # start.sh would refuse this home: say so in its words
        if args.json:
            print(json.dumps({"valid": False, "source": config.source, "home": str(config.home.root),
                              "problems": [{"key": "home", "message": m} for m in unusable]}))
        else:
            for message in unusable:
                print(f"{PROGRAM}: {message}", file=sys.stderr)
        return EXIT_USAGE
    salt = config.home.fingerprint_key(create=False)  # read-only: no key yet means no fingerprints
    known = known_secrets_report(config.known_secrets, config.picoclaw_home,
                                 monitor=(config.listen_host, config.listen_port),
                                 fingerprint=Redactor(salt).fingerprint if salt else None)
    if known["problems"]:  # known_secrets: true and the PicoClaw files are unusable
        if args.json:
            print(json.dumps({"valid": False, "source": config.source, "known_secrets": known,
                              "problems": [{"key": "known_secrets", "message": m} for m in known["problems"]]}))
        else:
            for message in known["problems"]:
                print(f"{PROGRAM}: {config.source}: known_secrets: {message}", file=sys.stderr)
        return EXIT_USAGE
    report = {"valid": True, "source": config.source, "home": str(config.home.root),
              "config_sha256": config.sha256(), "listen": config.proxy_url, "mode": config.mode,
              "https_inspection": config.https_inspection, "known_secrets": known}
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        print(f"{PROGRAM}: valid ({config.source}); home {config.home.root}; listen {config.proxy_url}; "
              f"mode {config.mode}; https_inspection {'on' if config.https_inspection else 'off'}",
              file=sys.stderr)
        for line in known_secrets_lines(known):
            print(f"{PROGRAM}: {line}", file=sys.stderr)
    return EXIT_OK


def known_secrets_lines(known: dict) -> list[str]:
    """The human report of known_secrets_report: one line per file, owner, unwatchable secret, egress path."""
    if not known["enabled"]:
        return ["known secrets: off"]
    version = known["config_version"]
    lines = [f"known secrets: PicoClaw config version {version if version is not None else 'unknown (no config.json)'}"]
    if version is not None and version < CURRENT_VERSION:
        lines.append(f"known secrets: version {version} is older than PicoClaw's current {CURRENT_VERSION}: PicoClaw "
                     "rewrites it on its next start (keeping dated .bak copies); read as it is until then")
    for item in known["files"]:
        state = (f"error: {item['error']}" if item["error"] else f"{item['secrets']} secrets") if item["exists"] \
            else "not present"
        lines.append(f"known secrets: {item['path']}: {state}")
    if known["environment_secrets"]:
        lines.append(f"known secrets: PICOCLAW_* environment: {known['environment_secrets']} secrets")
    for owner in known["owners"]:
        prints = ",".join(owner["fingerprints"]) or "no fingerprint key yet"
        lines.append(f"secret: {owner['owner']} {owner['kind']} x{owner['values']} (fp {prints})")
    for item in known["unwatchable"]:
        lines.append(f"not watchable: {item['owner']} {item['kind']} in {item['source']}: {item['reason']}")
    lines.append(f"known secrets: {known['secrets']} watched, {len(known['unwatchable'])} not watchable")
    for path in known["coverage"]:
        advice = f"; {path['advice']}" if path["advice"] else ""
        lines.append(f"egress: {path['route']}: {path['owner']} -> {path['target']} ({path['config_path']}): "
                     f"{path['reason']}{advice}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
