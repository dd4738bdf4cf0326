#!/usr/bin/env python3
"""Print the monitor's Prometheus metrics (text exposition format) from the guardian home.

The same exposition the running monitor writes every 5 s to `metrics_textfile` (default
<home>/metrics/traffic-guardian.prom) for node_exporter's textfile collector; this prints
it from the home's run files whether the monitor runs or not (up 0 when it does not).
Metric names, labels and alert rules: SPEC.md section 11, config/prometheus/.

  scripts/metrics.py | grep findings_total
  scripts/metrics.py > /var/lib/node_exporter/textfile/traffic-guardian.prom.$$ && mv ...

Exit 0, 2 bad usage or config.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from traffic_guardian.cli import EXIT_OK, load_config_or_exit  # noqa: E402
from traffic_guardian.home.prometheus_text import render  # noqa: E402

PROGRAM = "metrics.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="config file (default: see SPEC.md section 4)")
    args = parser.parse_args(argv)
    config = load_config_or_exit(PROGRAM, args.config)
    try:
        sys.stdout.write(render(config.home))
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        sys.stderr.close()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
