#!/usr/bin/env python3
"""List the egress inventory: every destination the monitor forwarded to, as JSON Lines.

One object per destination from <home>/run/egress.json (written by the running monitor at
most every 5 s and when it stops): dest (host:port), sni (names seen on passthrough TLS
tunnels), protocols, first_seen, last_seen, requests, bytes_out, bytes_in, and allowed
(whether the egress allowlist covers it; null when no allowlist applies).

  scripts/egress.py --sort requests --limit 10
  scripts/egress.py --unexpected | jq -r .dest

Exit 0 (an empty or missing inventory prints nothing and says so on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from traffic_guardian.cli import EXIT_OK, emit_json_line, load_config_or_exit  # noqa: E402
from traffic_guardian.detect.egress_policy import EgressPolicy  # noqa: E402
from traffic_guardian.detect.exchange import split_host_port  # noqa: E402
from traffic_guardian.home.egress_inventory import SORT_KEYS, inventory_path, read_inventory, sorted_destinations  # noqa: E402
from traffic_guardian.picoclaw.config_files import read_picoclaw, resolve_picoclaw_home  # noqa: E402

PROGRAM = "egress.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sort", choices=SORT_KEYS, default="last_seen", help="sort key (default last_seen)")
    parser.add_argument("--ascending", action="store_true", help="smallest / oldest first (default: largest first)")
    parser.add_argument("--limit", type=int, metavar="N", help="at most N destinations")
    parser.add_argument("--unexpected", action="store_true", help="only destinations outside the egress allowlist")
    parser.add_argument("--config", help="config file (default: see SPEC.md section 4)")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 0:
        parser.error("--limit must be 0 or more")

    config = load_config_or_exit(PROGRAM, args.config)
    path = inventory_path(config.home)
    entries = sorted_destinations(read_inventory(path), args.sort, reverse=not args.ascending)
    if not entries:
        print(f"{PROGRAM}: no egress recorded yet ({path})", file=sys.stderr)
    derived = read_picoclaw(resolve_picoclaw_home(config.picoclaw_home)).egress_hosts
    policy = EgressPolicy(config.egress_allowlist, lambda: derived, config.dedup_window_secs)
    active = bool(policy.globs())
    shown = 0
    for entry in entries:
        host = split_host_port(entry["dest"])[0]
        allowed = any(policy.allows(host, sni) for sni in (entry.get("sni") or [None])) if active else None
        if args.unexpected and allowed is not False:
            continue
        if args.limit is not None and shown >= args.limit:
            break
        emit_json_line({**entry, "allowed": allowed})
        shown += 1
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
