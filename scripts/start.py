#!/usr/bin/env python3
"""Start the traffic monitor (mitmdump + the guardian addon) on a loopback port.

  start.sh                          foreground; Ctrl-C stops it
  start.sh --background             detached; stop with scripts/stop.py
  start.sh [--background] -- CMD    run CMD with the proxy variables for CMD only;
                                    foreground: the monitor stops when CMD ends and
                                    start.sh exits with CMD's status; background: it stays

The proxy requires credentials generated for this start (kept 0600 in <home>/run/); only
the scoped child (or a process given `scripts/proxy-env.sh` output) receives them.
HTTPS is tunnelled uninspected unless config https_inspection is true AND
--https-inspection is given. Exit 0 started, 1 cannot start (port busy, mitmproxy
missing, already running), 2 bad usage or config.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from traffic_guardian import VERSION  # noqa: E402
from traffic_guardian.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, emit_json_line, fail, load_config_or_exit  # noqa: E402
from traffic_guardian.egress import INVENTORY_FILE  # noqa: E402
from traffic_guardian.finding import utc_timestamp  # noqa: E402
from traffic_guardian.findings_log import lock_path_for  # noqa: E402
from traffic_guardian.home import GuardianHome, HomeError  # noqa: E402
from traffic_guardian.known_secrets import SUMMARY_FILE  # noqa: E402
from traffic_guardian.process import (  # noqa: E402
    ADDON_FILE,
    MONITOR_ENTRY,
    RUN_FILE_NAMES,
    STALE,
    clear_run_files,
    monitor_status,
    process_start_time,
    stop_monitor,
    write_run_files,
)
from traffic_guardian.proxy_env import CREDENTIALS_FILE, scoped_assignments, scoped_env  # noqa: E402
from traffic_guardian.trust import (  # noqa: E402
    UPSTREAM_BUNDLE_NAME,
    guardian_ca_fingerprint,
    write_client_bundle,
    write_upstream_bundle,
)

PROGRAM = "start.sh"
PROXY_USER = "guardian"
MONITOR_LOG = "monitor.log"
MONITOR_LOG_MAX_BYTES = 1024 * 1024  # rotated once at start; the monitor also caps its own output
# Files mitmproxy itself writes or reads in its confdir (<home>/mitmproxy) with plain open().
MITMPROXY_CA_FILES = ("mitmproxy-ca.pem", "mitmproxy-ca-cert.pem", "mitmproxy-ca-cert.cer", "mitmproxy-ca-cert.p12",
                      "mitmproxy-ca.p12", "mitmproxy-dhparam.pem")
MITMPROXY_OPTION_FILES = ("config.yaml", "config.yml")  # mitmproxy loads options from these when present


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    command: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     usage="%(prog)s [--background] [--https-inspection] [--config PATH] "
                                           "[-- CMD ARGS...]")
    parser.add_argument("--background", action="store_true", help="detach; stop later with scripts/stop.py")
    parser.add_argument("--https-inspection", action="store_true",
                        help="inspect HTTPS (also needs https_inspection: true in the config)")
    parser.add_argument("--config", help="config file (default: $PICOCLAW_TRAFFIC_GUARDIAN_CONFIG or "
                                         "<home>/config.json)")
    parser.add_argument("--no-proxy", default="", metavar="HOSTS",
                        help="NO_PROXY for the scoped child (default empty: all its traffic is monitored)")
    parser.add_argument("--wait", type=float, default=30.0, metavar="SECS",
                        help="how long to wait for the listener (default 30)")
    args = parser.parse_args(argv)
    if args.wait <= 0:
        parser.error("--wait must be positive")
    return args, command


def main(argv: list[str]) -> int:
    args, command = parse_args(argv)
    config = load_config_or_exit(PROGRAM, args.config)
    if args.https_inspection and not config.https_inspection:
        fail(PROGRAM, f"{config.source}: https_inspection: --https-inspection needs https_inspection: true "
                      "in the config (per-process trust is an explicit two-step opt-in)", EXIT_USAGE)
    inspect_https = bool(args.https_inspection and config.https_inspection)
    if config.https_inspection and not args.https_inspection:
        print(f"{PROGRAM}: https_inspection is true in the config but --https-inspection was not given: "
              "HTTPS is tunnelled uninspected", file=sys.stderr)
    if importlib.util.find_spec("mitmproxy") is None:
        fail(PROGRAM, f"mitmdump is missing: mitmproxy is not installed for {sys.executable} "
                      "(run scripts/bootstrap.sh)")
    home = config.home
    home.ensure_dir(home.run_dir)
    if not args.background and not command:
        # Ctrl-C during startup must still stop the monitor, not orphan it.
        signal.signal(signal.SIGINT, _request_stop)
        signal.signal(signal.SIGTERM, _request_stop)
    with start_lock(home):
        status = monitor_status(home)
        if status.running:
            fail(PROGRAM, f"already running (pid {status.pid}, {status.info.get('proxy_url', '?')}); "
                          "stop it with scripts/stop.py")
        if status.state == STALE:
            clear_run_files(home)
        refuse_planted_paths(config, home)
        ensure_port_free(config.listen_host, config.listen_port)
        monitor = launch(config, home, args, inspect_https, command)
    return run_mode(monitor, home, args, command)


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
    option file sits in mitmproxy's confdir. Our own writes refuse links anyway (home.py), but
    mitmproxy writes its CA files with a plain open() that would follow one, and it loads
    options (scripts to run included) from confdir/config.yaml: every option is ours, on its
    command line."""
    log_dir = config.state_path("log_dir")
    paths = [home.run_dir, log_dir, home.confdir, home.fingerprint_key_file, config.log_path,
             lock_path_for(config.log_path), log_dir / MONITOR_LOG, log_dir / f"{MONITOR_LOG}.1",
             config.state_path("ca_bundle"), home.root / "ca" / UPSTREAM_BUNDLE_NAME]
    paths += [home.run_dir / name for name in (*RUN_FILE_NAMES, ".start.lock", INVENTORY_FILE, SUMMARY_FILE)]
    paths += [home.confdir / name for name in (*MITMPROXY_CA_FILES, *MITMPROXY_OPTION_FILES)]
    for path in paths:
        if path.is_symlink():
            fail(PROGRAM, f"{path}: is a symlink; refusing to start (the guardian never writes through a link: "
                          "remove it, and find out who planted it)")
    for name in MITMPROXY_OPTION_FILES:
        if (home.confdir / name).exists():
            fail(PROGRAM, f"{home.confdir / name}: mitmproxy would load options from it; refusing to start "
                          "(the monitor takes every option from start.sh: remove the file)")


def ensure_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as mitmproxy binds: TIME_WAIT is fine
        try:
            probe.bind((host, port))
        except OSError as exc:
            fail(PROGRAM, f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                          "(port busy? set listen_port in the config)")


class Monitor:
    def __init__(self, process: subprocess.Popen, state: dict, assignments: dict[str, str],
                 log_path: Path | None):
        self.process = process
        self.state = state
        self.assignments = assignments
        self.log_path = log_path


def launch(config, home: GuardianHome, args, inspect_https: bool, command: list[str]) -> Monitor:
    username, password = PROXY_USER, secrets.token_urlsafe(24)
    write_credentials(home, username, password)
    argv = monitor_argv(config, home, inspect_https)
    env = scoped_env(dict(os.environ), {})  # the monitor itself must not be proxied
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy"):
        env.pop(name, None)
    env["PICOCLAW_TRAFFIC_GUARDIAN_HOME"] = str(home.root)
    # Foreground without a command shows the monitor's (redacted) warnings on the terminal;
    # otherwise they go to a 0600 log so they never mix with the child's output.
    log_path = None if (not args.background and not command) else open_monitor_log(config, home)
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
        "listen": f"{config.listen_host}:{config.listen_port}",
        "proxy_url": config.proxy_url,
        "started_at": utc_timestamp(),
        "https_inspection": inspect_https,
        "ca_fingerprint_sha256": None,
        "trust_bundle": None,
        "config_sha256": config.sha256(),
        "config_source": config.source,
        "mode": config.mode,
        "background": bool(args.background),
        "no_proxy": args.no_proxy,
        "skill_version": VERSION,
        "log": str(log_path) if log_path else None,
        "findings_log": str(config.log_path),
    }
    try:
        write_run_files(home, state)
        wait_for_listener(process, config, home, log_path, args.wait)
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
    assignments = scoped_assignments(config.proxy_url, username, password, args.no_proxy, trust_bundle)
    return Monitor(process, state, assignments, log_path)


def write_credentials(home: GuardianHome, username: str, password: str) -> None:
    """htpasswd for mitmproxy ({SHA}: the password is random, 144 bits) and the plain pair for
    proxy-env.sh; both 0600 in <home>/run, so the password never appears in any argv."""
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()  # noqa: S324
    home.write_atomic(home.run_dir / "proxyauth.htpasswd", f"{username}:{{SHA}}{digest}\n".encode())
    home.write_atomic(home.run_dir / CREDENTIALS_FILE,
                      json.dumps({"username": username, "password": password}).encode() + b"\n")


def monitor_argv(config, home: GuardianHome, inspect_https: bool) -> list[str]:
    """The monitor's command line: a list (no shell), every value validated config or our own path,
    each passed as one `--set name=value` element so no value can become an option."""
    argv = [
        sys.executable, str(MONITOR_ENTRY),
        "--listen-host", config.listen_host, "--listen-port", str(int(config.listen_port)),
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


def wait_for_listener(process: subprocess.Popen, config, home: GuardianHome, log_path: Path | None,
                      timeout: float) -> None:
    deadline = time.monotonic() + timeout
    address = (config.listen_host, config.listen_port)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            clear_run_files(home)
            reason = last_lines(log_path) if log_path else "see the messages above"
            fail(PROGRAM, f"the monitor exited during startup (status {process.returncode}): {reason}")
        try:
            with socket.create_connection(address, timeout=0.5):
                pass
        except OSError:
            time.sleep(0.05)
            continue
        if process.poll() is None:  # the listener is ours, not something that grabbed the port meanwhile
            return
    stop_monitor(home)
    fail(PROGRAM, f"the monitor did not listen on {address[0]}:{address[1]} within {timeout:g}s; stopped it")


def last_lines(path: Path, count: int = 5) -> str:
    """The end of the monitor log (already redacted by the monitor) as one line."""
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return f"no log at {path}"
    return " | ".join(lines[-count:]) or f"nothing in {path}"


def announce(monitor: Monitor, command: list[str]) -> None:
    state = monitor.state
    https = "on" if state["https_inspection"] else "off (CONNECT tunnels pass through; destinations recorded)"
    print(f"{PROGRAM}: monitor running: pid {state['pid']}, listening on {state['proxy_url']} "
          f"(loopback only), mode {state['mode']}, HTTPS inspection {https}; "
          f"ready in {state['startup_seconds']}s", file=sys.stderr)
    if state["ca_fingerprint_sha256"]:
        print(f"{PROGRAM}: guardian CA SHA-256 {state['ca_fingerprint_sha256']} (trusted only by scoped "
              f"processes via {state['trust_bundle']}; never installed system-wide)", file=sys.stderr)
    if not command:
        print(f"{PROGRAM}: scope one process: scripts/start.sh -- CMD ARGS  "
              "(or: env $(scripts/proxy-env.sh) CMD)", file=sys.stderr)
        print(f"{PROGRAM}: findings: {state['findings_log']}; status: scripts/status.py; "
              "stop: scripts/stop.py", file=sys.stderr)
        emit_json_line({k: v for k, v in state.items() if k != "no_proxy"})
        sys.stdout.flush()


def run_mode(monitor: Monitor, home: GuardianHome, args, command: list[str]) -> int:
    announce(monitor, command)
    if args.background and not command:
        return EXIT_OK
    if not command:
        return wait_foreground(monitor, home)
    # Background: the monitor outlives the child (and is reparented to init when we exit).
    return run_scoped_child(monitor, home, command, stop_after=not args.background)


_foreground: dict = {"process": None, "stop": False}


def _request_stop(_signum, _frame) -> None:
    _foreground["stop"] = True
    process = _foreground["process"]
    if process is not None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)


def wait_foreground(monitor: Monitor, home: GuardianHome) -> int:
    """Foreground: run until Ctrl-C / SIGTERM (forwarded to the monitor) or until it exits."""
    _foreground["process"] = monitor.process
    if _foreground["stop"]:  # interrupted while starting
        _request_stop(signal.SIGTERM, None)
    code = monitor.process.wait()
    clear_run_files(home)
    print(f"{PROGRAM}: monitor stopped", file=sys.stderr)
    return EXIT_OK if code in (0, -signal.SIGTERM, -signal.SIGINT) else EXIT_FAILURE


def run_scoped_child(monitor: Monitor, home: GuardianHome, command: list[str], stop_after: bool) -> int:
    """Run the one scoped child; in the foreground the monitor lives exactly as long as it."""
    env = scoped_env(dict(os.environ), monitor.assignments)
    # Ctrl-C reaches the child through the terminal; we outlive it to stop the monitor.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        child = subprocess.Popen(command, env=env, preexec_fn=_default_sigint)  # noqa: S603, PLW1509
    except OSError as exc:
        if stop_after:
            stop_monitor(home)
        fail(PROGRAM, f"cannot run {command[0]}: {exc.strerror or exc}"
                      + ("" if stop_after else " (the monitor keeps running)"), 127)

    def forward(signum, _frame):
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    code = child.wait()
    if stop_after:
        stop_monitor(home)
    print(f"{PROGRAM}: {command[0]} exited with status {code}; "
          + ("monitor stopped" if stop_after else "monitor keeps running (scripts/stop.py stops it)"),
          file=sys.stderr)
    return code if code >= 0 else 128 - code


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except HomeError as error:  # an unsafe path in the home (a planted symlink): one line, nothing followed
        fail(PROGRAM, str(error))
