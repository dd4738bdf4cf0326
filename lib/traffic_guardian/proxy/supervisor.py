"""The monitor's supervisor: keeps the proxy process up, so a crash does not cut the gateway off.

start.py spawns `monitor.py <mitmdump arguments>`; that process is this supervisor. It runs
the proxy (`monitor.py --proxy <same arguments>`: mitmdump with our addon) as its child and,
when the proxy dies without being asked to (killed, a crash), starts it again on the same
port with the same credentials after a short backoff, so the scoped gateway's next
requests succeed without a restart of its own. Each restart is one line in monitor.log and
counted in <home>/run/supervisor.json, which status.py and the posture profile read.

A proxy that exits by itself with a status (a config error at startup) is not restarted:
that is a decision, not a crash, and the supervisor exits with the same status. Restarts
are bounded: after MAX_QUICK_RESTARTS in a row that each lived less than STABLE_SECS, the
supervisor gives up and exits 1 (status.py then reports the monitor down). The proxy gets
PR_SET_PDEATHSIG, so it never outlives a supervisor killed with SIGKILL.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from traffic_guardian.detect.finding import utc_timestamp
from traffic_guardian.home.guardian_home import GuardianHome
from traffic_guardian.home.run_files import SUPERVISOR_FILE

PROXY_FLAG = "--proxy"
SUPERVISOR_PID_ENV = "PICOCLAW_TRAFFIC_GUARDIAN_SUPERVISOR_PID"
FIRST_BACKOFF_SECS = 0.1
MAX_BACKOFF_SECS = 5.0
STABLE_SECS = 30.0  # a proxy that lived this long resets the backoff and the give-up count
MAX_QUICK_RESTARTS = 10
PR_SET_PDEATHSIG = 1


class Supervisor:
    def __init__(self, entry: Path, argv: list[str], home: GuardianHome | None, watch_factory=None):
        self.entry = entry
        self.argv = argv
        self.home = home
        self.watch_factory = watch_factory  # builds the BypassWatch once the proxy runs (bypass_watch.py)
        self.watch = None
        self.stopping = False
        self.proxy: subprocess.Popen | None = None
        self.restarts = 0
        self.last_exit: str | None = None
        self.last_restart_at: str | None = None

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        quick_restarts = 0
        while True:
            started = time.monotonic()
            self.proxy = self._spawn()
            self._record()
            code = self._wait()
            lived = time.monotonic() - started
            if self.stopping:
                return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else 1
            if code >= 0 and (self.restarts == 0 and lived < STABLE_SECS or code == 0):
                return code  # it exited by itself (a startup error, a clean exit): not a crash
            quick_restarts = 0 if lived >= STABLE_SECS else quick_restarts + 1
            self.last_exit = describe_exit(code)
            if quick_restarts > MAX_QUICK_RESTARTS:
                self._say(f"the proxy process {self.last_exit} {quick_restarts} times in a row within "
                          f"{STABLE_SECS:g}s of starting; giving up (the scoped process has no proxy until "
                          "scripts/start.sh runs again)")
                self._record(gave_up=True)
                return 1
            delay = min(MAX_BACKOFF_SECS, FIRST_BACKOFF_SECS * 2 ** max(0, quick_restarts - 1))
            self.restarts += 1
            self.last_restart_at = utc_timestamp()
            self._say(f"the proxy process {self.last_exit}; restarting it in {delay:g}s "
                      f"(restart {self.restarts}; same port and credentials)")
            if self._sleep(delay):
                return 0

    def _spawn(self) -> subprocess.Popen:
        env = dict(os.environ)
        env[SUPERVISOR_PID_ENV] = str(os.getpid())
        return subprocess.Popen([sys.executable, str(self.entry), PROXY_FLAG, *self.argv], env=env,
                                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)  # noqa: PLW1509

    def _wait(self) -> int:
        """Wait for the proxy; meanwhile, look for connections around it (bypass_watch.py)."""
        while True:
            try:
                return self.proxy.wait(timeout=0.25 if self.watch_factory else None)
            except subprocess.TimeoutExpired:
                self._watch()
            except InterruptedError:
                continue

    def _watch(self) -> None:
        if self.watch is None:
            try:
                self.watch = self.watch_factory(lambda: (os.getpid(), self.proxy.pid if self.proxy else 0))
            except Exception as exc:  # noqa: BLE001  (no watch is reported, never a dead supervisor)
                self.watch_factory = None
                self._say(f"the bypass watch cannot start: {type(exc).__name__}: {exc}")
                self._record(bypass_status=f"off: {type(exc).__name__}")
                return
        if not self.watch.due():
            return
        before = (self.watch.found, self.watch.status)
        self.watch.look()
        if (self.watch.found, self.watch.status) != before:
            self._record()

    def _sleep(self, delay: float) -> bool:
        """Sleep, waking early when asked to stop; True if asked."""
        deadline = time.monotonic() + delay
        while not self.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(0.05, left))
        return self.stopping

    def _stop(self, signum, _frame) -> None:
        self.stopping = True
        if self.proxy is not None and self.proxy.poll() is None:
            try:
                self.proxy.send_signal(signal.SIGTERM if signum == signal.SIGTERM else signal.SIGINT)
            except ProcessLookupError:
                pass

    def _record(self, gave_up: bool = False, bypass_status: str | None = None) -> None:
        if self.home is None:
            return
        state = {"supervisor_pid": os.getpid(), "proxy_pid": self.proxy.pid if self.proxy else None,
                 "restarts": self.restarts, "last_exit": self.last_exit, "last_restart_at": self.last_restart_at,
                 "gave_up": gave_up,
                 "proxy_bypasses": self.watch.found if self.watch else 0,
                 "bypass_watch": bypass_status or (self.watch.status if self.watch else "starting")}
        try:
            self.home.write_atomic(self.home.run_dir / SUPERVISOR_FILE,
                                   (json.dumps(state, sort_keys=True) + "\n").encode())
        except OSError as exc:
            self._say(f"cannot record the proxy's restarts in {self.home.run_dir / SUPERVISOR_FILE}: "
                      f"{exc.strerror or exc}")

    @staticmethod
    def _say(text: str) -> None:
        print(f"monitor: {text}", file=sys.stderr, flush=True)


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _die_with_parent() -> None:
    """In the proxy, before exec: SIGTERM when the supervisor dies, however it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: a killed supervisor may leave its proxy running; stop.py still finds the port busy
