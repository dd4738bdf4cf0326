#!/usr/bin/env python3
"""A/B proxy benchmark: this checkout's monitor against bare mitmdump, and against another
checkout's monitor, in one run, with paired ratios.

The host's speed swings by a factor of two within minutes, so figures from two runs cannot
be compared, and even the medians of one run move with the rounds that fell on the slow
speed. Here every round runs each way once, back to back, in an order that rotates, and
each round's monitor/bare ratio is taken within the round: the median of those paired
ratios is what a change is judged by. A second bare mitmdump (`--control`) shows the
noise floor: its ratio to the first is 1 up to the noise.

  bench/ab.py [--other PATH] [--rounds N] [--seconds S] [--scenario NAME ...] [--control]

--other PATH: a checkout of the bundle (git worktree add /tmp/base HEAD~1) whose monitor
runs as the way "other"; it bootstraps its own .venv (symlink this one's to skip that).
Scenarios are bench/proxy.py's; default the 64 KiB POST at concurrency 1 and 32.
Machine output: one JSON line per scenario on stdout; the table on stderr. Not run by CI.
Exit 0 after a run, 1 when a step fails, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import proxy  # noqa: E402

SCENARIOS = {name: (method, path, concurrency) for name, method, path, concurrency in proxy.SCENARIOS}


def paired(samples: dict[str, list[dict]], way: str, base: str, key: str) -> list[float]:
    """Per round, way's figure over base's figure in the same round."""
    return [a[key] / b[key] for a, b in zip(samples[way], samples[base], strict=True) if b[key]]


def summary(name: str, samples: dict[str, list[dict]]) -> dict:
    record: dict = {"bench": "ab", "scenario": name, "rounds": len(samples["bare"])}
    for way, runs in samples.items():
        record[way] = {"rps": round(statistics.median(r["rps"] for r in runs), 1),
                       "p50_ms": round(statistics.median(r["p50_us"] for r in runs) / 1000, 3),
                       "rps_all": [round(r["rps"]) for r in runs], "errors": sum(r["errors"] for r in runs)}
        if way != "bare":
            ratios = paired(samples, way, "bare", "rps")
            added = [(a["p50_us"] - b["p50_us"]) / 1000 for a, b in zip(runs, samples["bare"], strict=True)]
            record[way]["vs_bare_rps_paired"] = round(statistics.median(ratios), 3)
            record[way]["vs_bare_rps_range"] = [round(min(ratios), 3), round(max(ratios), 3)]
            record[way]["added_p50_ms_paired"] = round(statistics.median(added), 3)
    if "other" in samples:
        ratios = paired(samples, "guardian", "other", "rps")
        record["guardian_vs_other_rps_paired"] = round(statistics.median(ratios), 3)
    return record


def print_table(records: list[dict]) -> None:
    print("\nA/B: median of per-round ratios to bare mitmdump (range), median rps, median p50", file=sys.stderr)
    for record in records:
        print(f"  {record['scenario']} ({record['rounds']} rounds)", file=sys.stderr)
        for way in ("bare", "control", "other", "guardian"):
            if way not in record:
                continue
            figures = record[way]
            line = f"    {way:<9} {figures['rps']:>8.0f} rps  p50 {figures['p50_ms']:>7.2f} ms"
            if way != "bare":
                low, high = figures["vs_bare_rps_range"]
                line += (f"  x{figures['vs_bare_rps_paired']:.3f} of bare ({low:.3f}-{high:.3f}),"
                         f" p50 {figures['added_p50_ms_paired']:+.2f} ms")
            print(line, file=sys.stderr)
        if "guardian_vs_other_rps_paired" in record:
            print(f"    guardian / other, paired: x{record['guardian_vs_other_rps_paired']:.3f}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--other", type=Path, help="another checkout of the bundle, run as the way 'other'")
    parser.add_argument("--rounds", type=int, default=8, help="rounds (default 8)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per wrk run (default 2)")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                        help="scenario to run (repeatable; default post_64k_c1 and post_64k_c32)")
    parser.add_argument("--control", action="store_true", help="also a second bare mitmdump: the noise floor")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds < 1:
        parser.error("--rounds and --seconds must be at least 1")
    if args.other is not None and not (args.other / "scripts" / "start.sh").is_file():
        parser.error(f"--other {args.other}: no scripts/start.sh there (a checkout of this bundle?)")
    scenarios = args.scenario or ["post_64k_c1", "post_64k_c32"]
    wrk = proxy.ensure_wrk()
    records = []
    with tempfile.TemporaryDirectory(prefix="tg-ab-") as tmp:
        stack = proxy.Stack(Path(tmp))
        try:
            upstream = stack.upstream()
            bare_port, _pid, bare_auth = stack.bare_mitmdump()
            ways = {"bare": (bare_port, bare_auth)}
            if args.control:
                control_port, _pid, control_auth = stack.bare_mitmdump(name="control")
                ways["control"] = (control_port, control_auth)
            if args.other is not None:
                other = stack.guardian("other", {}, bundle=args.other.resolve())
                ways["other"] = (other["port"], other["auth"])
            guardian = stack.guardian("guardian", {})
            ways["guardian"] = (guardian["port"], guardian["auth"])
            time.sleep(0.5)
            scripts = {(name, way): proxy.wrk_script(stack.workdir, way, SCENARIOS[name][0], SCENARIOS[name][1],
                                                     upstream, auth)
                       for name in scenarios for way, (_port, auth) in ways.items()}
            for way, (port, _auth) in ways.items():  # warm-up, not recorded
                proxy.run_wrk(wrk, port, scripts[(scenarios[0], way)], SCENARIOS[scenarios[0]][2], 1)
            samples = {name: {way: [] for way in ways} for name in scenarios}
            order = list(ways)
            for round_index in range(args.rounds):
                for name in scenarios:
                    rotated = order[round_index % len(order):] + order[:round_index % len(order)]
                    for way in rotated:
                        samples[name][way].append(proxy.run_wrk(wrk, ways[way][0], scripts[(name, way)],
                                                                SCENARIOS[name][2], args.seconds))
                proxy.log(f"round {round_index + 1} of {args.rounds} done")
            records = [summary(name, samples[name]) for name in scenarios]
        except (RuntimeError, OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
            proxy.log(f"A/B benchmark failed: {exc}")
            return 1
        finally:
            stack.close()
    print("\n".join(json.dumps(record) for record in records))
    print_table(records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
