#!/usr/bin/env python3
"""Start the traffic monitor (mitmdump + the guardian addon) on a loopback port.

  start.sh                          foreground; Ctrl-C stops it
  start.sh --background             detached; stop with scripts/stop.py
  start.sh -- CMD                   run CMD with the proxy variables for CMD only; the
                                    monitor stops when CMD ends and start.sh exits with
                                    CMD's status
  start.sh --background -- CMD      return once the monitor listens and CMD has started;
                                    CMD runs detached (pid and exit status in
                                    <home>/run/child.json, output to --child-log)

The proxy requires credentials (kept 0600 in <home>/run/); only the scoped child, or a
process given `scripts/proxy-env.sh` output or <home>/run/proxy.env, receives them. The
credentials and the listen address stay the same across stops and starts, so a process
scoped to an earlier start works again as soon as the monitor is back; --new-credentials
replaces them (and takes listen_port from the config again). A crashed proxy process is
restarted by the monitor itself. HTTPS is tunnelled uninspected unless config
https_inspection is true AND --https-inspection is given. Exit 0 started, 1 cannot start
(port busy, mitmproxy missing, already running), 2 bad usage or config, 127 CMD cannot be
run; in the foreground with CMD, CMD's own status.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from traffic_guardian.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, emit_json_line, fail, load_config_or_exit  # noqa: E402
from traffic_guardian.control.child_keeper import KEEPER_FILE  # noqa: E402
from traffic_guardian.control.launch import (  # noqa: E402
    LaunchError,
    Monitor,
    choose_endpoint,
    ensure_port_free,
    launch,
    refuse_planted_paths,
    start_lock,
)
from traffic_guardian.control.proxy_env import scoped_env  # noqa: E402
from traffic_guardian.detect.finding import utc_timestamp  # noqa: E402
from traffic_guardian.home.guardian_home import GuardianHome, HomeError  # noqa: E402
from traffic_guardian.home.run_files import (  # noqa: E402
    STALE,
    clear_run_files,
    monitor_status,
    process_start_time,
    stop_monitor,
)
from traffic_guardian.home.scoped_processes import (  # noqa: E402
    clear_child_record,
    read_child_record,
    write_child_record,
)

PROGRAM = "start.sh"


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    command: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     usage="%(prog)s [--background] [--https-inspection] [--new-credentials] "
                                           "[--config PATH] [-- CMD ARGS...]")
    parser.add_argument("--background", action="store_true", help="detach; stop later with scripts/stop.py")
    parser.add_argument("--https-inspection", action="store_true",
                        help="inspect HTTPS (also needs https_inspection: true in the config)")
    parser.add_argument("--config", help="config file (default: $PICOCLAW_TRAFFIC_GUARDIAN_CONFIG or "
                                         "<home>/config.json)")
    parser.add_argument("--no-proxy", default="", metavar="HOSTS",
                        help="NO_PROXY for the scoped child (default empty: all its traffic is monitored)")
    parser.add_argument("--wait", type=float, default=30.0, metavar="SECS",
                        help="how long to wait for the listener (default 30)")
    parser.add_argument("--new-credentials", action="store_true",
                        help="new proxy credentials and the config's listen address (processes scoped "
                             "before must be given the new proxy variables)")
    parser.add_argument("--child-log", default=os.devnull, metavar="FILE",
                        help="with --background -- CMD: where CMD's output goes (default /dev/null; "
                             "the file is CMD's own output, not redacted by the guardian)")
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
        endpoint = choose_endpoint(config, home, args.new_credentials)
        ensure_port_free(endpoint.host, endpoint.port)
        monitor = launch(config, home, inspect_https=inspect_https, command=command, background=args.background,
                         no_proxy=args.no_proxy, wait=args.wait, endpoint=endpoint)
    configured = f"{config.listen_host}:{config.listen_port}"
    if endpoint.reused and monitor.state["listen"] != configured:
        print(f"{PROGRAM}: listening on {monitor.state['listen']} as the last start did (processes scoped then "
              f"use it); the config says {configured}: --new-credentials moves there", file=sys.stderr)
    return run_mode(monitor, home, args, command)


def announce(monitor: Monitor, command: list[str]) -> None:
    state = monitor.state
    https = "on" if state["https_inspection"] else "off (CONNECT tunnels pass through; destinations recorded)"
    print(f"{PROGRAM}: monitor running: pid {state['pid']}, listening on {state['proxy_url']} "
          f"(loopback only), mode {state['mode']}, HTTPS inspection {https}; "
          f"ready in {state['startup_seconds']}s", file=sys.stderr)
    if state["ca_fingerprint_sha256"]:
        print(f"{PROGRAM}: guardian CA SHA-256 {state['ca_fingerprint_sha256']} (trusted only by scoped "
              f"processes via {state['trust_bundle']}; never installed system-wide)", file=sys.stderr)
    credentials = "the same as the last start" if state.get("credentials_reused") else "new"
    print(f"{PROGRAM}: proxy credentials {credentials}; a process scoped to this monitor keeps working across "
          "restarts (scripts/stop.py refuses while one runs)", file=sys.stderr)
    if not command:
        print(f"{PROGRAM}: scope a process: env $(scripts/proxy-env.sh) CMD  "
              "(a service: EnvironmentFile=<home>/run/proxy.env, see config/systemd/)", file=sys.stderr)
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
    if args.background:
        return start_detached_child(monitor, home, command, args.child_log)
    return run_scoped_child(monitor, home, command)


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


def start_detached_child(monitor: Monitor, home: GuardianHome, command: list[str], child_log: str) -> int:
    """Background: CMD runs under child_keeper.py in a session of its own; we return once it started."""
    env = scoped_env(dict(os.environ), monitor.assignments)
    try:
        output = os.open(child_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        fail(PROGRAM, f"{child_log}: cannot open the child's log: {exc.strerror or exc} (the monitor keeps running)")
    clear_child_record(home)
    try:
        keeper = subprocess.Popen([sys.executable, str(KEEPER_FILE), str(home.root), "--", *command],  # noqa: S603
                                  env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                                  start_new_session=True, close_fds=True)
    finally:
        os.close(output)
    record = wait_child_record(home, keeper)
    if record.get("pid") is None:
        fail(PROGRAM, f"{record.get('error') or f'cannot run {command[0]}'} (the monitor keeps running)", 127)
    print(f"{PROGRAM}: {record['comm']} started in the background (pid {record['pid']}, output to {child_log}); "
          "its exit status goes to <home>/run/child.json (scripts/status.py shows it)", file=sys.stderr)
    emit_json_line({**{k: v for k, v in monitor.state.items() if k != "no_proxy"},
                    "child": {"pid": record["pid"], "comm": record["comm"]}})
    return EXIT_OK


def wait_child_record(home: GuardianHome, keeper: subprocess.Popen, timeout: float = 30.0) -> dict:
    """The keeper's child.json once it names the child's pid or why it could not run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = read_child_record(home)
        if record.get("keeper_pid") == keeper.pid and (record.get("pid") or record.get("error")):
            return record
        if keeper.poll() is not None and read_child_record(home).get("keeper_pid") != keeper.pid:
            return {"error": f"the child keeper exited with status {keeper.returncode} before starting the child"}
        time.sleep(0.02)
    return {"error": f"the child did not start within {timeout:g}s"}


def run_scoped_child(monitor: Monitor, home: GuardianHome, command: list[str]) -> int:
    """Foreground: run the one scoped child; the monitor lives exactly as long as it."""
    env = scoped_env(dict(os.environ), monitor.assignments)
    # Ctrl-C reaches the child through the terminal; we outlive it to stop the monitor.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        child = subprocess.Popen(command, env=env, preexec_fn=_default_sigint)  # noqa: S603, PLW1509
    except OSError as exc:
        stop_monitor(home)
        fail(PROGRAM, f"cannot run {command[0]}: {exc.strerror or exc}", 127)
    write_child_record(home, {"pid": child.pid, "process_start_time": process_start_time(child.pid),
                              "comm": os.path.basename(command[0])[:32], "background": False,
                              "started_at": utc_timestamp(), "exit_status": None})

    def forward(signum, _frame):
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    code = child.wait()
    clear_child_record(home)
    stop_monitor(home)
    print(f"{PROGRAM}: {command[0]} exited with status {code}; monitor stopped", file=sys.stderr)
    return code if code >= 0 else 128 - code


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (HomeError, LaunchError) as error:  # one line, nothing half-started (HomeError: a planted symlink)
        fail(PROGRAM, str(error))
