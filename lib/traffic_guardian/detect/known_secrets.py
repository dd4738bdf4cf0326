"""Known secrets: the operator's own PicoClaw keys, found by value in any scanned view.

A regex knows formats; PicoClaw's config knows the actual keys and where each belongs.
This module turns picoclaw/config_files.py's list into one matcher: a single compiled regex that
is a trie of every secret (one pass over the text whatever the number of secrets, not a
loop per secret). The engine runs it on every decoded view (decode.py already gives the
URL-decoded, JSON-unescaped and base64-decoded text), so those encodings are covered.

A secret in its binding (its api_base or channel host, in its auth location) is expected
credential use; anywhere else it is EXFIL `known_secret`, critical, with the owner
(model, channel, tool) in the finding's `secret_owner`. Every occurrence, bound or not,
is also a redaction span, so even a key in a format no regex knows is masked.

Values live in memory only. What leaves this module is a count, owners, kinds, bound
hosts and salted fingerprints (redact.Redactor.fingerprint, keyed by the home's
fingerprint.key), never a value.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from traffic_guardian.detect.finding import utc_timestamp
from traffic_guardian.detect.providers import UseContext, host_matches, in_auth_location
from traffic_guardian.home.guardian_home import GuardianHome
from traffic_guardian.picoclaw.config_files import (
    Binding,
    ConfiguredSecret,
    PicoClawSnapshot,
    file_stamps,
    read_picoclaw,
)

PATTERN = "known_secret"
SEVERITY = "critical"
DESCRIPTION = "A secret from the operator's PicoClaw config outside its expected destination and auth location"
MAX_KNOWN_SECRETS = 10000  # bounds the compiled matcher; a real config holds a few dozen
RELOAD_CHECK_SECS = 5.0  # how often a running monitor stats the PicoClaw files for changes
SUMMARY_FILE = "known-secrets.json"  # under <home>/run/, written by the monitor
SUMMARY_SCHEMA = "clawsec-traffic-known-secrets/v1"


@dataclass(frozen=True)
class KnownSecret:
    value: str = field(repr=False)
    owners: tuple[str, ...]  # every owner configured with this value; the first is reported
    kind: str
    bindings: tuple[Binding, ...]
    fingerprint: str

    @property
    def owner(self) -> str:
        return self.owners[0]

    @property
    def has_own_binding(self) -> bool:
        return any(binding.hosts and binding.auth for binding in self.bindings)

    @property
    def bound_hosts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(h for binding in self.bindings if binding.auth for h in binding.hosts))


class KnownSecretSet:
    """An immutable set of known secrets and their one-pass matcher."""

    def __init__(self, secrets: Iterable[ConfiguredSecret], fingerprint: Callable[[str], str],
                 snapshot: PicoClawSnapshot | None = None):
        merged: dict[str, list[ConfiguredSecret]] = {}
        for secret in secrets:
            if len(merged) >= MAX_KNOWN_SECRETS and secret.value not in merged:
                break
            merged.setdefault(secret.value, []).append(secret)
        self._by_value: dict[str, KnownSecret] = {
            value: KnownSecret(value, tuple(dict.fromkeys(s.owner for s in group)), group[0].kind,
                               tuple(dict.fromkeys(s.binding for s in group)), fingerprint(value))
            for value, group in merged.items()
        }
        self._matcher = re.compile(trie_pattern(self._by_value)) if self._by_value else None
        self.snapshot = snapshot
        self.truncated = len(merged) >= MAX_KNOWN_SECRETS

    def current(self) -> KnownSecretSet:
        """Same interface as KnownSecretsWatch, so the engine takes either."""
        return self

    def __len__(self) -> int:
        return len(self._by_value)

    def find(self, text: str) -> list[tuple[int, int, KnownSecret]]:
        """Every occurrence (start, end, secret), leftmost-longest, in one pass."""
        if self._matcher is None:
            return []
        return [(m.start(), m.end(), self._by_value[m.group(0)]) for m in self._matcher.finditer(text)]

    def spans(self, text: str) -> list[tuple[int, int, str, str]]:
        """Redaction spans for Engine.secret_spans: no public prefix, a known key shows nothing."""
        return [(start, end, PATTERN, "") for start, end, _secret in self.find(text)]

    def summary(self) -> dict:
        """What status and the posture profile may show: never a value."""
        snapshot = self.snapshot
        return {
            "count": len(self),
            "truncated": self.truncated,
            "picoclaw_home": str(snapshot.home) if snapshot else None,
            "files": [report.to_dict() for report in snapshot.reports] if snapshot else [],
            "secrets": [{"owner": s.owner, "owners": list(s.owners), "kind": s.kind, "fingerprint": s.fingerprint,
                         "bound_hosts": list(s.bound_hosts)}
                        for s in sorted(self._by_value.values(), key=lambda s: (s.owner, s.fingerprint))],
        }


def is_bound_use(secret: KnownSecret, ctx: UseContext) -> bool:
    """True when this occurrence is the secret's configured use: a bound host and auth location."""
    for binding in secret.bindings:
        if binding.hosts and binding.auth and host_matches(ctx.host, binding.hosts):
            if any(in_auth_location(location, secret.value, ctx) for location in binding.auth):
                return True
    return False


def trie_pattern(values: Iterable[str]) -> str:
    """One regex matching any of values: a trie, so each position costs one branch walk.

    An alternation of 200 escaped literals makes re try 200 branches at every position;
    a trie tries only the branches that share the text's next character. Where one secret
    is a prefix of another the longer one is tried first (leftmost-longest).
    """
    root: dict = {}
    for value in values:
        node = root
        for char in value:
            node = node.setdefault(char, {})
        node[""] = {}
    return _emit(root)


def _emit(node: dict) -> str:
    branches: list[str] = []
    for char in sorted(key for key in node if key):
        literal = re.escape(char)
        child = node[char]
        while len(child) == 1 and "" not in child:  # a chain of single children is one literal run
            (next_char, child), = child.items()
            literal += re.escape(next_char)
        branches.append(literal + _emit(child))
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if "" in node:  # a secret ends here; longer secrets through this node were tried first
        body = f"(?:{body})?"
    return body


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


def summary_path(home: GuardianHome) -> Path:
    return home.run_dir / SUMMARY_FILE


def write_summary(home: GuardianHome, known: KnownSecretSet) -> None:
    """Persist what status and the posture profile show (count, owners, fingerprints); never a value."""
    document = {"schema": SUMMARY_SCHEMA, "updated_at": utc_timestamp(), **known.summary()}
    home.write_atomic(summary_path(home), (json.dumps(document, separators=(",", ":")) + "\n").encode("utf-8"))


def read_summary(home: GuardianHome) -> dict | None:
    """The running monitor's known-secrets summary, or None when there is none."""
    try:
        with open(summary_path(home), encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and document.get("schema") == SUMMARY_SCHEMA else None


def watch_from_config(config, fingerprint: Callable[[str], str], **kwargs) -> KnownSecretsWatch | None:
    """The watch the config asks for (known_secrets false: None).

    "auto" and true both watch; with "auto" missing files are simply an empty set (and a
    file created later is picked up by the reload check), while validate treats missing
    files as a problem only for true.
    """
    from traffic_guardian.picoclaw.config_files import resolve_picoclaw_home

    if config.values.get("known_secrets", "auto") is False:
        return None
    home = resolve_picoclaw_home(config.values.get("picoclaw_home"))
    return KnownSecretsWatch(home, fingerprint, **kwargs)
