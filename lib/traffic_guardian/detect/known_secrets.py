"""Known secrets: the operator's own PicoClaw keys, found by value in any scanned view.

A regex knows formats; PicoClaw's config knows the actual keys and where each belongs.
This module turns the list of secrets the PicoClaw reader found (picoclaw/config_files.py) into
one matcher: a single compiled regex that
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

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from traffic_guardian.detect.providers import UNBOUND, Binding, UseContext, host_matches, in_auth_location

PATTERN = "known_secret"
SEVERITY = "critical"
DESCRIPTION = "A secret from the operator's PicoClaw config outside its expected destination and auth location"
MAX_KNOWN_SECRETS = 10000  # bounds the compiled matcher; a real config holds a few dozen


@dataclass(frozen=True)
class ConfiguredSecret:
    value: str = field(repr=False)
    # what it belongs to: model:<model_name>, channel:<name>, web:<tool>, skill:<registry>, mcp:<server>,
    # config:<dotted path>
    owner: str
    kind: str  # model_api_key | channel_secret | web_tool_key | skill_token | mcp_credential | other_secret
    source: str  # the file name it came from
    binding: Binding = UNBOUND


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
                 snapshot: Any = None):
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
        # What the PicoClaw reader made of the files (picoclaw/config_files.PicoClawSnapshot): kept for
        # the summary and the derived egress hosts; detect never imports its reader.
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
            # the reader's own report (config version, unwatchable secrets, coverage), when it has one
            **(snapshot.summary_extra() if hasattr(snapshot, "summary_extra") else {}),
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


class KnownSecretsSource(Protocol):
    """What the engine takes: a KnownSecretSet, or a watch that reloads one (picoclaw/secrets_watch.py)."""

    def current(self) -> KnownSecretSet: ...
