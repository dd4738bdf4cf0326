#!/usr/bin/env python3
"""Export the traffic posture fragment (clawsec-traffic-posture/v1) for picoclaw-security-guardian.

  scripts/export-profile.py                 # writes <home>/posture/traffic-posture.json
  scripts/export-profile.py --output -      # canonical JSON on stdout
  scripts/export-profile.py --output /path/to/traffic-posture.json

Where it goes: --output, else $PICOCLAW_TRAFFIC_GUARDIAN_PROFILE_OUTPUT, else the config's
profile_output (relative paths are inside the guardian home). The write is atomic and
0600, and is skipped when the file already holds the same bytes. When writing a file,
one JSON line on stdout says where, whether it changed and the sha256 of its bytes.

Deterministic: the same guardian state gives the same bytes. generated_at comes from
SOURCE_DATE_EPOCH when set, otherwise from the latest state change (monitor start or
newest finding), never from the clock. Exit 0 ok, 1 runtime failure, 2 bad usage/config.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from traffic_guardian.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, emit_json_line, fail, load_config_or_exit  # noqa: E402
from traffic_guardian.home.guardian_home import HomeError  # noqa: E402
from traffic_guardian.report.posture import (  # noqa: E402
    PostureError,
    build_profile,
    default_output_path,
    render_profile,
    write_profile,
)

PROGRAM = "export-profile.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", "-o", metavar="PATH", help="file to write, or '-' for stdout")
    parser.add_argument("--config", help="config file (default: see SPEC.md section 4)")
    args = parser.parse_args(argv)

    config = load_config_or_exit(PROGRAM, args.config)
    try:
        data = render_profile(build_profile(config))
    except PostureError as exc:  # a malformed SOURCE_DATE_EPOCH
        fail(PROGRAM, str(exc), EXIT_USAGE)
    except OSError as exc:
        where = exc.filename or config.home.root
        fail(PROGRAM, f"{where}: cannot read guardian state: {exc.strerror or exc}", EXIT_FAILURE)

    if args.output == "-":
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        except BrokenPipeError:
            pass
        return EXIT_OK

    path = Path(args.output).expanduser().absolute() if args.output else default_output_path(config)
    try:
        changed = write_profile(config, path, data)
    except (HomeError, PostureError) as exc:
        fail(PROGRAM, str(exc), EXIT_FAILURE)
    except OSError as exc:
        where = exc.filename or path
        fail(PROGRAM, f"{where}: cannot write the profile: {exc.strerror or exc}", EXIT_FAILURE)
    emit_json_line({"output": str(path), "changed": changed, "sha256": hashlib.sha256(data).hexdigest()})
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
