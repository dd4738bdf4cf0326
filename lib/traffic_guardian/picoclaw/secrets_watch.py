"""The operator's PicoClaw secrets as a running engine sees them, reloaded when the files change.

detect/known_secrets.py matches a fixed set; this module keeps that set current for a
PicoClaw home (config.json and .security.yml, read by config_files.py) and builds the
engine the front ends run: the guardian config's engine, watching those files.
"""

from __future__ import annotations

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

    A running monitor picks up an edited config.json or .security.yml without a restart:
    current() stats both files at most every check_secs (mtime, size and inode) and
    rebuilds the set when any changed. No signal is involved. on_reload(set) lets the
    monitor persist the new fingerprint summary.
    """

    def __init__(self, picoclaw_home: Path, fingerprint: Callable[[str], str], *,
                 check_secs: float = RELOAD_CHECK_SECS, clock: Callable[[], float] = time.monotonic,
                 on_reload: Callable[[KnownSecretSet], None] | None = None):
        self.picoclaw_home = Path(picoclaw_home)
        self.fingerprint = fingerprint
        self.check_secs = check_secs
        self.clock = clock
        self.on_reload = on_reload
        self.reloads = 0
        self._lock = threading.Lock()
        self._stamps = file_stamps(self.picoclaw_home)
        self._checked = clock()
        self._set = self._build()

    def current(self) -> KnownSecretSet:
        now = self.clock()
        if now - self._checked >= self.check_secs:
            with self._lock:
                if now - self._checked >= self.check_secs:
                    self._checked = now
                    stamps = file_stamps(self.picoclaw_home)
                    if stamps != self._stamps:
                        self._stamps = stamps
                        self._set = self._build()
                        self.reloads += 1
                        if self.on_reload is not None:
                            self.on_reload(self._set)
        return self._set

    def _build(self) -> KnownSecretSet:
        snapshot = read_picoclaw(self.picoclaw_home)
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
    return KnownSecretsWatch(home, fingerprint, **kwargs)


def engine_from_config(config, redactor: Redactor | None = None, use_hyperscan: bool = True) -> Engine:
    """The engine every front end runs: the guardian config's settings and the watched PicoClaw secrets."""
    redactor = redactor or Redactor()
    return Engine.from_config(config, redactor, use_hyperscan=use_hyperscan,
                              known_secrets=watch_from_config(config, redactor.fingerprint))
