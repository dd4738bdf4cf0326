#!/usr/bin/env bash
# The whole test suite: bootstrap the venv, make sure jq is present, lint (shellcheck, ruff,
# the import layers), then pytest.
# Extra arguments go to pytest (for example: scripts/test.sh -k redaction).
set -euo pipefail

case "${1:-}" in
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh

if ! command -v jq >/dev/null 2>&1; then
    # jq is a system package; install it when we are allowed to, else the jq tests skip with a reason.
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "test: installing jq (system package)" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq; } >/dev/null 2>&1 ||
            echo "test: could not install jq; tests that need it will be skipped" >&2
    else
        echo "test: jq not found and cannot be installed here; tests that need it will be skipped" >&2
    fi
fi

# Debian's prometheus (promtool, and the server), prometheus-node-exporter and rsyslog: the metrics and
# syslog end-to-end tests run the real ones on 127.0.0.1 (none is started as a service here).
# Installed only when we may; otherwise those tests skip with the reason.
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus-node-exporter >/dev/null 2>&1 ||
    ! [ -x /usr/sbin/rsyslogd ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "test: installing prometheus, prometheus-node-exporter and rsyslog (system packages)" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            prometheus prometheus-node-exporter rsyslog; } >/dev/null 2>&1 ||
            echo "test: could not install them; the metrics and syslog end-to-end tests will be skipped" >&2
    else
        echo "test: prometheus / node-exporter / rsyslog missing and cannot be installed here; their tests skip" >&2
    fi
fi

echo "test: shellcheck" >&2
find scripts bench test .ci -name '*.sh' -print0 2>/dev/null | xargs -0 -r .venv/bin/shellcheck
.venv/bin/shellcheck .ci/run
echo "test: ruff" >&2
.venv/bin/ruff check --no-cache --quiet lib scripts test bench  # first-party names depend on the tree, which the cache does not key
echo "test: import layers (lint-imports)" >&2
if ! layers="$(PYTHONPATH=lib .venv/bin/lint-imports --no-cache --no-logo 2>&1)"; then
    printf '%s\n' "$layers" >&2
    exit 1
fi
echo "test: pytest" >&2
exec .venv/bin/python -m pytest "$@"
