"""Launching the monitor process: everything scripts/start.py does before it scopes a child.

Lives in lib/ so the script stays argument handling: the start lock, the refusal of planted
symlinks and mitmproxy option files, the port check, the proxy credentials and address
(kept across starts so a scoped process survives a restart), the
monitor's command line (a list, every value validated, no shell), its run files, and the
wait until its loopback listener accepts connections. Failures raise LaunchError with one
line saying what and where; start.py prints it and exits 1.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from traffic_guardian import VERSION
from traffic_guardian.control.proxy_env import PROXY_ENV_FILE, scoped_assignments, scoped_env
from traffic_guardian.detect.finding import utc_timestamp
from traffic_guardian.home.egress_inventory import INVENTORY_FILE
from traffic_guardian.home.findings_log import lock_path_for
from traffic_guardian.home.guardian_home import GuardianHome, HomeError
from traffic_guardian.home.run_files import (
    ADDON_FILE,
    CREDENTIALS_FILE,
    MONITOR_ENTRY,
    PERSISTENT_FILE_NAMES,
    RUN_FILE_NAMES,
    clear_run_files,
    process_start_time,
    read_credentials_record,
    stop_monitor,
    write_run_files,
)
from traffic_guardian.home.scoped_processes import CHILD_FILE
from traffic_guardian.home.secrets_summary import SUMMARY_FILE
from traffic_guardian.home.trust import (
    UPSTREAM_BUNDLE_NAME,
    guardian_ca_fingerprint,
    write_client_bundle,
    write_upstream_bundle,
)

PROXY_USER = "guardian"
MONITOR_LOG = "monitor.log"
MONITOR_LOG_MAX_BYTES = 1024 * 1024  # rotated once at start; the monitor also caps its own output
# Files mitmproxy itself writes or reads in its confdir (<home>/mitmproxy) with plain open().
MITMPROXY_CA_FILES = ("mitmproxy-ca.pem", "mitmproxy-ca-cert.pem", "mitmproxy-ca-cert.cer", "mitmproxy-ca-cert.p12",
                      "mitmproxy-ca.p12", "mitmproxy-dhparam.pem")
MITMPROXY_OPTION_FILES = ("config.yaml", "config.yml")  # mitmproxy loads options from these when present


class LaunchError(Exception):
    """The monitor cannot start; the message says what and where."""


@contextlib.contextmanager
def start_lock(home: GuardianHome):
    """Two starts racing for the same home: the second waits, then sees the first running."""
    fd = home.open_append(home.run_dir / ".start.lock")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def refuse_planted_paths(config, home: GuardianHome) -> None:
    """Nothing starts when a symlink sits where this start or the monitor will write, or an
    option file sits in mitmproxy's confdir. Our own writes refuse links anyway (guardian_home.py), but
    mitmproxy writes its CA files with a plain open() that would follow one, and it loads
    options (scripts to run included) from confdir/config.yaml: every option is ours, on its
    command line."""
    log_dir = config.state_path("log_dir")
    paths = [home.run_dir, log_dir, home.confdir, home.fingerprint_key_file, config.log_path,
             lock_path_for(config.log_path), log_dir / MONITOR_LOG, log_dir / f"{MONITOR_LOG}.1",
             config.state_path("ca_bundle"), home.root / "ca" / UPSTREAM_BUNDLE_NAME]
    paths += [home.run_dir / name for name in (*RUN_FILE_NAMES, *PERSISTENT_FILE_NAMES, ".start.lock",
                                               INVENTORY_FILE, SUMMARY_FILE, CHILD_FILE)]
    paths += [home.confdir / name for name in (*MITMPROXY_CA_FILES, *MITMPROXY_OPTION_FILES)]
    for path in paths:
        if path.is_symlink():
            raise LaunchError(f"{path}: is a symlink; refusing to start (the guardian never writes through a link: "
                          "remove it, and find out who planted it)")
    for name in MITMPROXY_OPTION_FILES:
        if (home.confdir / name).exists():
            raise LaunchError(f"{home.confdir / name}: mitmproxy would load options from it; refusing to start "
                          "(the monitor takes every option from start.sh: remove the file)")


def ensure_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as mitmproxy binds: TIME_WAIT is fine
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise LaunchError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                          "(port busy? set listen_port in the config)") from exc


class Monitor:
    def __init__(self, process: subprocess.Popen, state: dict, assignments: dict[str, str],
                 log_path: Path | None):
        self.process = process
        self.state = state
        self.assignments = assignments
        self.log_path = log_path


def launch(config, home: GuardianHome, *, inspect_https: bool, command: list[str], background: bool, no_proxy: str,
           wait: float, endpoint: Endpoint) -> Monitor:
    """Start the monitor process, write its run files, wait for its listener; the Monitor to scope a child with."""
    username, password = endpoint.username, endpoint.password
    write_credentials(home, endpoint)
    argv = monitor_argv(config, home, inspect_https, endpoint)
    env = scoped_env(dict(os.environ), {})  # the monitor itself must not be proxied
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy"):
        env.pop(name, None)
    env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"] = str(home.root)
    # Foreground without a command shows the monitor's (redacted) warnings on the terminal;
    # otherwise they go to a 0600 log so they never mix with the child's output.
    log_path = None if (not background and not command) else open_monitor_log(config, home)
    output = None if log_path is None else home.open_append(log_path)
    started = time.monotonic()
    try:
        # Without a log file the monitor's stdout goes to our stderr: stdout is for JSON only.
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output if output is not None else 2,
                                   stderr=output, env=env, start_new_session=True, close_fds=True)
    finally:
        if output is not None:
            os.close(output)
    state = {
        "pid": process.pid,
        "process_start_time": process_start_time(process.pid),
        "listen": f"{endpoint.host}:{endpoint.port}",
        "proxy_url": endpoint.proxy_url,
        "credentials_reused": endpoint.reused,
        "started_at": utc_timestamp(),
        "https_inspection": inspect_https,
        "ca_fingerprint_sha256": None,
        "trust_bundle": None,
        "config_sha256": config.sha256(),
        "config_source": config.source,
        "mode": config.mode,
        "background": bool(background),
        "no_proxy": no_proxy,
        "skill_version": VERSION,
        "log": str(log_path) if log_path else None,
        "findings_log": str(config.log_path),
    }
    try:
        write_run_files(home, state)
        wait_for_listener(process, endpoint, home, log_path, wait)
        state["startup_seconds"] = round(time.monotonic() - started, 3)
        trust_bundle = None
        if inspect_https:
            state["ca_fingerprint_sha256"] = guardian_ca_fingerprint(home)
            trust_bundle = write_client_bundle(home, config.state_path("ca_bundle"))
            state["trust_bundle"] = str(trust_bundle)
        write_run_files(home, state)
    except HomeError:
        process.kill()  # a monitor no run file describes could never be found and stopped
        process.wait()
        raise
    assignments = scoped_assignments(endpoint.proxy_url, username, password, no_proxy, trust_bundle)
    write_proxy_env_file(home, assignments)
    return Monitor(process, state, assignments, log_path)


@dataclass(frozen=True)
class Endpoint:
    """Where the monitor listens and the credentials it asks for: kept across stops and starts."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    reused: bool  # the last start's, read back from CREDENTIALS_FILE

    @property
    def proxy_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def choose_endpoint(config, home: GuardianHome, new_credentials: bool) -> Endpoint:
    """The last start's address and credentials when there are any (a process scoped then still
    uses them, so a restart must not cut it off), else the config's address and new ones."""
    saved = None if new_credentials else read_saved_endpoint(home)
    if saved is not None:
        return saved
    return Endpoint(config.listen_host, int(config.listen_port), PROXY_USER, secrets.token_urlsafe(24), False)


def read_saved_endpoint(home: GuardianHome) -> Endpoint | None:
    data = read_credentials_record(home)
    try:
        host, port = str(data["listen_host"]), int(data["listen_port"])
        username, password = str(data["username"]), str(data["password"])
    except (KeyError, TypeError, ValueError):
        return None  # none yet, or written by a version that did not keep the address: start afresh
    if not (1 <= port <= 65535) or not username or len(password) < 16:
        return None
    return Endpoint(host, port, username, password, True)


def write_credentials(home: GuardianHome, endpoint: Endpoint) -> None:
    """htpasswd for mitmproxy ({SHA}: the password is random, 144 bits) and the pair plus the
    address for proxy-env.sh and the next start; both 0600 in <home>/run, so the password
    never appears in any argv."""
    digest = base64.b64encode(hashlib.sha1(endpoint.password.encode()).digest()).decode()  # noqa: S324
    home.write_atomic(home.run_dir / "proxyauth.htpasswd", f"{endpoint.username}:{{SHA}}{digest}\n".encode())
    saved = {"username": endpoint.username, "password": endpoint.password,
             "listen_host": endpoint.host, "listen_port": endpoint.port}
    home.write_atomic(home.run_dir / CREDENTIALS_FILE, json.dumps(saved).encode() + b"\n")


def write_proxy_env_file(home: GuardianHome, assignments: dict[str, str]) -> None:
    """<home>/run/proxy.env (0600): NAME=VALUE lines for one service, as systemd's
    EnvironmentFile= reads them (config/systemd/). Valid across restarts, like the credentials."""
    lines = "".join(f"{name}={value}\n" for name, value in assignments.items())
    home.write_atomic(home.run_dir / PROXY_ENV_FILE, lines.encode())


def monitor_argv(config, home: GuardianHome, inspect_https: bool, endpoint: Endpoint) -> list[str]:
    """The monitor's command line: a list (no shell), every value validated config or our own path,
    each passed as one `--set name=value` element so no value can become an option."""
    argv = [
        sys.executable, str(MONITOR_ENTRY),
        "--listen-host", endpoint.host, "--listen-port", str(int(endpoint.port)),
        "--set", f"confdir={home.confdir}",
        "--set", "flow_detail=0",
        "--set", "termlog_verbosity=warn",
        "--set", f"proxyauth=@{home.run_dir / 'proxyauth.htpasswd'}",
        "-s", str(ADDON_FILE),
        "--set", f"guardian_home={home.root}",
        "--set", f"guardian_config={config.source if config.source != 'defaults' else ''}",
        "--set", f"guardian_https_inspection={'true' if inspect_https else 'false'}",
    ]
    if config.upstream_ca_bundle:
        bundle = write_upstream_bundle(home, Path(config.upstream_ca_bundle))
        argv += ["--set", f"ssl_verify_upstream_trusted_ca={bundle}"]
    return argv


def open_monitor_log(config, home: GuardianHome) -> Path:
    path = config.state_path("log_dir") / MONITOR_LOG
    home.ensure_dir(path.parent)
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size > MONITOR_LOG_MAX_BYTES:
            os.replace(path, path.with_name(MONITOR_LOG + ".1"))
    return path


def wait_for_listener(process: subprocess.Popen, endpoint: Endpoint, home: GuardianHome, log_path: Path | None,
                      timeout: float) -> None:
    deadline = time.monotonic() + timeout
    address = (endpoint.host, endpoint.port)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            clear_run_files(home)
            reason = last_lines(log_path) if log_path else "see the messages above"
            raise LaunchError(f"the monitor exited during startup (status {process.returncode}): {reason}")
        try:
            with socket.create_connection(address, timeout=0.5):
                pass
        except OSError:
            time.sleep(0.05)
            continue
        if process.poll() is None:  # the listener is ours, not something that grabbed the port meanwhile
            return
    stop_monitor(home)
    raise LaunchError(f"the monitor did not listen on {address[0]}:{address[1]} within {timeout:g}s; stopped it")


def last_lines(path: Path, count: int = 5) -> str:
    """The end of the monitor log (already redacted by the monitor) as one line."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return f"no log at {path}"
    return " | ".join(lines[-count:]) or f"nothing in {path}"
