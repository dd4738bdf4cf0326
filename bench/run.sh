#!/usr/bin/env bash
# Run every benchmark and print the tables (ratios side by side, medians over rounds).
#   bench/run.sh [--quick | --full | --soak]   --quick (default) finishes in under two minutes
# Detector: bench/detector.py; proxy, RSS, start, HTTPS, SSE: bench/proxy.py; --soak: bench/soak.py only.
# JSON lines go to stdout and to bench/results/*.jsonl; tables go to stderr.
# Exit 0 when every target is met, 1 when one is missed or a step fails, 2 on bad usage.
set -euo pipefail

usage() { sed -n '2,6s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
mode="--quick"
case "${1:-}" in
    "" | --quick) mode="--quick" ;;
    --full) mode="--full" ;;
    --soak) mode="--soak" ;;  # 100k requests at concurrency 32 (minutes); not part of --quick/--full
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (use --quick or --full, or --soak)" >&2; exit 2 ;;
esac
[ "$#" -le 1 ] || { echo "run.sh: one argument at most (--quick or --full, or --soak)" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh" >&2
python="$root/.venv/bin/python"
mkdir -p "$root/bench/results"
echo "bench: $mode on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (noisy if above the core count)" >&2
[ "$mode" != "--soak" ] || exec "$python" "$root/bench/soak.py"

status=0
"$python" "$root/bench/detector.py" "$mode" || status=$?
[ "$status" -le 1 ] || exit "$status"
proxy_status=0
"$python" "$root/bench/proxy.py" "$mode" || proxy_status=$?
[ "$proxy_status" -le 1 ] || exit "$proxy_status"
echo "bench: results in $root/bench/results/ (detector.jsonl, proxy.jsonl)" >&2
if [ "$status" -ne 0 ] || [ "$proxy_status" -ne 0 ]; then
    echo "bench: at least one target was missed (marked MISSED above)" >&2
    exit 1
fi
echo "bench: every target met" >&2
