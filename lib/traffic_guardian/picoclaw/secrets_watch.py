"""The operator's PicoClaw secrets as a running engine sees them, reloaded when the files change.

detect/known_secrets.py matches a fixed set; this module keeps that set current for a
PicoClaw home (config.json and .security.yml, read by config_files.py) and builds the
engine the front ends run: the guardian config's engine, watching those files.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from traffic_guardian.detect.engine import Engine
from traffic_guardian.detect.known_secrets import KnownSecretSet
from traffic_guardian.detect.redact import Redactor
from traffic_guardian.picoclaw.config_files import file_stamps, read_picoclaw, resolve_picoclaw_home

RELOAD_CHECK_SECS = 5.0  # how often a running monitor stats the PicoClaw files for changes


class KnownSecretsWatch:
    """The current KnownSecretSet for a PicoClaw home, reloaded when its files change.

    A running monitor picks up an edited config.json, .security.yml, auth.json or file://
    credential file without a restart, and a changed PICOCLAW_* variable in environ():
    current() stats the files at most every check_secs (mtime, size and inode), compares a
    digest of the variables, and rebuilds the set when any changed. No signal is involved.
    on_reload(set) lets the monitor persist the new fingerprint summary.
    """

    def __init__(self, picoclaw_home: Path, fingerprint: Callable[[str], str], *,
                 check_secs: float = RELOAD_CHECK_SECS, clock: Callable[[], float] = time.monotonic,
                 on_reload: Callable[[KnownSecretSet], None] | None = None,
                 environ: Callable[[], dict[str, str]] | None = None, monitor: tuple[str, int] | None = None):
        self.picoclaw_home = Path(picoclaw_home)
        self.fingerprint = fingerprint
        self.check_secs = check_secs
        self.clock = clock
        self.on_reload = on_reload
        self.environ = environ or (lambda: dict(os.environ))
        self.monitor = monitor
        self.reloads = 0
        self._lock = threading.Lock()
        self._checked = clock()
        self._credential_files: tuple[Path, ...] = ()
        self._set = self._build()

    def current(self) -> KnownSecretSet:
        now = self.clock()
        if now - self._checked >= self.check_secs:
            with self._lock:
                if now - self._checked >= self.check_secs:
                    self._checked = now
                    env = self.environ()
                    if self._stamps_now(env) != self._stamps:
                        self._set = self._build(env)
                        self.reloads += 1
                        if self.on_reload is not None:
                            self.on_reload(self._set)
        return self._set

    def _stamps_now(self, env: dict[str, str]) -> tuple:
        return file_stamps(self.picoclaw_home, env, self._credential_files)

    def _build(self, env: dict[str, str] | None = None) -> KnownSecretSet:
        """Read everything once; the stamps taken first, so a change while reading means another reload."""
        env = self.environ() if env is None else env
        stamps = self._stamps_now(env)
        snapshot = read_picoclaw(self.picoclaw_home, env, self.monitor)
        self._credential_files = tuple(sorted(snapshot.credential_files))
        self._stamps = stamps if not self._credential_files else self._stamps_now(env)
        return KnownSecretSet(snapshot.secrets, self.fingerprint, snapshot)


def watch_from_config(config, fingerprint: Callable[[str], str], **kwargs) -> KnownSecretsWatch | None:
    """The watch the config asks for (known_secrets false: None).

    "auto" and true both watch; with "auto" missing files are simply an empty set (and a
    file created later is picked up by the reload check), while validate treats missing
    files as a problem only for true.
    """
    if config.values.get("known_secrets", "auto") is False:
        return None
    home = resolve_picoclaw_home(config.values.get("picoclaw_home"))
    kwargs.setdefault("monitor", monitor_address(config))
    return KnownSecretsWatch(home, fingerprint, **kwargs)


def monitor_address(config) -> tuple[str, int] | None:
    """(listen_host, listen_port) of the guardian config, to judge PicoClaw's per-client proxy fields."""
    host, port = config.values.get("listen_host"), config.values.get("listen_port")
    return (str(host), port) if isinstance(host, str) and isinstance(port, int) else None


def engine_from_config(config, redactor: Redactor | None = None, use_hyperscan: bool = True,
                       environ: Callable[[], dict[str, str]] | None = None) -> Engine:
    """The engine every front end runs: the guardian config's settings and the watched PicoClaw secrets.

    environ gives the environment PicoClaw's variables are read from (default: this
    process's own; the monitor adds the gateway child's)."""
    redactor = redactor or Redactor()
    return Engine.from_config(config, redactor, use_hyperscan=use_hyperscan,
                              known_secrets=watch_from_config(config, redactor.fingerprint, environ=environ))
