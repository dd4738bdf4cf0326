#!/usr/bin/env bash
# Print NAME=VALUE lines that route ONE process through the running monitor:
#   env $(scripts/proxy-env.sh) picoclaw gateway
# Nothing is exported or written anywhere; exit 3 when no monitor runs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$root/.venv/bin/python"
[ -x "$python" ] || python="python3"
PYTHONPATH="$root/lib${PYTHONPATH:+:$PYTHONPATH}" exec "$python" -m traffic_guardian.control.proxy_env "$@"
