#!/usr/bin/env bash
# Start the traffic monitor: what an agent or operator calls (see scripts/start.py --help).
#   scripts/start.sh [--background] [--https-inspection] [--config PATH] [-- CMD ARGS...]
# Bootstraps the bundle's private .venv (idempotent), then runs start.py with it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
exec "$root/.venv/bin/python" "$root/scripts/start.py" "$@"
