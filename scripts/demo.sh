#!/usr/bin/env bash
# The guardian in one command, on a fresh machine and touching nothing outside a temp dir:
# local upstreams (HTTP, HTTPS with a throwaway CA, websocket) on 127.0.0.1, the monitor in
# background with per-process HTTPS inspection, a sample agent as the scoped child making
# normal provider calls plus a few that leak freshly generated fake secrets and receive an
# injection, then the findings through query.py | jq, status, and stop. Leaves nothing running.
# Usage: scripts/demo.sh [--keep-home]   (--keep-home prints the temp home and keeps it)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
keep_home=0
case "${1:-}" in
    -h | --help)
        sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    --keep-home) keep_home=1 ;;
    "") ;;
    *)
        echo "demo.sh: unknown argument: $1 (see --help)" >&2
        exit 2
        ;;
esac

bash "$root/scripts/bootstrap.sh"
py="$root/.venv/bin/python"
work="$(mktemp -d "${TMPDIR:-/tmp}/traffic-guardian-demo.XXXXXX")"
upstream_pid=""

# The demo must not inherit anyone's proxy or guardian settings.
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy NO_PROXY no_proxy
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^PICOCLAW_TRAFFIC_GUARDIAN_' || true)
export PICOCLAW_TRAFFIC_GUARDIAN_HOME="$work/home"
export PICOCLAW_TRAFFIC_GUARDIAN_CONFIG="$work/config.json"

cleanup() {
    "$py" "$root/scripts/stop.py" >/dev/null 2>&1 || true
    if [ -n "$upstream_pid" ]; then
        kill "$upstream_pid" 2>/dev/null || true
        wait "$upstream_pid" 2>/dev/null || true
    fi
    if [ "$keep_home" = 1 ]; then
        echo "demo.sh: kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "demo.sh: starting local upstreams on 127.0.0.1" >&2
"$py" "$root/scripts/demo_upstream.py" --dir "$work/upstream" >"$work/upstream.json" &
upstream_pid=$!
for _ in $(seq 1 100); do
    [ -s "$work/upstream.json" ] && break
    sleep 0.1
done
[ -s "$work/upstream.json" ] || { echo "demo.sh: local upstreams did not start" >&2; exit 1; }
field() { "$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/upstream.json" "$1"; }
http_port="$(field http)"
https_port="$(field https)"
ws_port="$(field websocket)"
proxy_port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

# Demo config: HTTPS inspection allowed, the test CA trusted for upstreams, and the local
# "provider" bound to its key so normal calls count as expected credential use.
"$py" - "$proxy_port" "$(field ca)" >"$PICOCLAW_TRAFFIC_GUARDIAN_CONFIG" <<'PY'
import json, sys
print(json.dumps({"listen_port": int(sys.argv[1]), "https_inspection": True, "upstream_ca_bundle": sys.argv[2],
                  "provider_hosts": {"openai": ["127.0.0.1"]}, "dedup_window_secs": 0,
                  "private_destination_allowlist": ["127.0.0.1"]}))  # the local upstreams play public hosts
PY

echo "demo.sh: starting the monitor, then the sample agent scoped to it with proxy-env.sh" >&2
bash "$root/scripts/start.sh" --background --https-inspection >/dev/null
# shellcheck disable=SC2046  # one NAME=VALUE word per line, no spaces in the values
env $(bash "$root/scripts/proxy-env.sh") \
    "$py" "$root/scripts/demo_agent.py" --http-port "$http_port" --https-port "$https_port" --ws-port "$ws_port"

sleep 1.5 # the monitor refreshes its counters file once a second
echo >&2
echo "demo.sh: status" >&2
"$py" "$root/scripts/status.py" --last 0 || true
echo >&2
if command -v jq >/dev/null 2>&1; then
    echo "demo.sh: findings (scripts/query.py | jq)" >&2
    "$py" "$root/scripts/query.py" | jq -c '{severity, threat_type, pattern, variant, direction, dest, location, snippet}'
else
    echo "demo.sh: findings (scripts/query.py; install jq for the compact view)" >&2
    "$py" "$root/scripts/query.py"
fi
exfil="$("$py" "$root/scripts/query.py" --type EXFIL | wc -l)"
injection="$("$py" "$root/scripts/query.py" --type INJECTION | wc -l)"
echo >&2
echo "demo.sh: $exfil exfiltration and $injection injection findings from live traffic; stopping" >&2
"$py" "$root/scripts/stop.py" >/dev/null
[ "$exfil" -gt 0 ] && [ "$injection" -gt 0 ]
