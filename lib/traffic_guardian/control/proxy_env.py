"""The environment handed to exactly one process so its traffic goes through the monitor.

Nothing here touches the caller's shell, profile files or system settings: start.py passes
the result to the one child it runs, and scripts/proxy-env.sh prints it for an operator to
prefix one command (`env $(scripts/proxy-env.sh) picoclaw gateway`). The proxy URL carries
the proxy credentials, so only a process given this environment can use the monitor; they
stay the same across restarts until `start.sh --new-credentials`.

Run as `python -m traffic_guardian.control.proxy_env` (what proxy-env.sh does): prints NAME=VALUE
lines for the running monitor of the home, or exits 3 when none runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import quote

from traffic_guardian.home.guardian_home import GuardianHome
from traffic_guardian.home.run_files import read_credentials_record

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
NO_PROXY_VARIABLES = ("NO_PROXY", "no_proxy")
# Trust variables of the common runtimes: Go and OpenSSL (SSL_CERT_FILE), Python requests,
# curl, Node.js (added to its built-in roots).
TRUST_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")
# Node.js ignores the proxy variables unless told (NODE_USE_ENV_PROXY, Node 24.5+ / 22.21+): PicoClaw's
# stdio MCP servers are often Node processes that inherit the gateway's environment.
NODE_VARIABLES = {"NODE_USE_ENV_PROXY": "1"}
PROXY_ENV_FILE = "proxy.env"  # the same lines for systemd's EnvironmentFile= (control/launch.py)


def proxy_url_with_credentials(proxy_url: str, username: str, password: str) -> str:
    scheme, _, rest = proxy_url.partition("://")
    return f"{scheme}://{quote(username, safe='')}:{quote(password, safe='')}@{rest}"


def scoped_assignments(proxy_url: str, username: str, password: str, no_proxy: str = "",
                       trust_bundle: Path | None = None) -> dict[str, str]:
    """NAME -> value for the one scoped process. NO_PROXY is always set (empty by default) so
    an inherited value cannot route loopback or other hosts around the monitor."""
    url = proxy_url_with_credentials(proxy_url, username, password)
    values = {name: url for name in PROXY_VARIABLES}
    values.update({name: no_proxy for name in NO_PROXY_VARIABLES})
    values.update(NODE_VARIABLES)
    if trust_bundle is not None:
        values.update({name: str(trust_bundle) for name in TRUST_VARIABLES})
    return values


def scoped_env(base: dict[str, str], assignments: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k.lower() != "all_proxy"}
    env.update(assignments)
    return env


def read_credentials(home: GuardianHome) -> tuple[str, str] | None:
    data = read_credentials_record(home)
    try:
        return str(data["username"]), str(data["password"])
    except (KeyError, TypeError):
        return None


def assignments_for_running_monitor(home: GuardianHome, info: dict) -> dict[str, str] | None:
    credentials = read_credentials(home)
    if credentials is None or not info.get("proxy_url"):
        return None
    bundle = info.get("trust_bundle") if info.get("https_inspection") else None
    return scoped_assignments(info["proxy_url"], *credentials, no_proxy=info.get("no_proxy", ""),
                              trust_bundle=Path(bundle) if bundle else None)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from traffic_guardian.cli import EXIT_NOT_RUNNING, EXIT_OK
    from traffic_guardian.home.run_files import monitor_status

    parser = argparse.ArgumentParser(
        prog="proxy-env.sh",
        description="Print NAME=VALUE lines that send ONE process through the running monitor, e.g. "
                    "`env $(scripts/proxy-env.sh) picoclaw gateway`. Nothing is exported anywhere. "
                    "The lines hold the per-start proxy credentials: do not paste them into logs. "
                    "Exit 3 when no monitor runs.")
    parser.add_argument("--export", action="store_true",
                        help="prefix each line with `export ` (for a subshell)")
    args = parser.parse_args(argv)
    home = GuardianHome.from_env()
    status = monitor_status(home)
    assignments = assignments_for_running_monitor(home, status.info) if status.running else None
    if assignments is None:
        print(f"proxy-env.sh: no monitor is running for {home.root} "
              "(start one: scripts/start.sh --background)", file=sys.stderr)
        return EXIT_NOT_RUNNING
    prefix = "export " if args.export else ""
    for name, value in assignments.items():
        sys.stdout.write(f"{prefix}{name}={value}\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
