"""The collector every PicoClaw layout reader fills: secret values with owner, kind, source and binding.

One place decides what counts as a secret value (references resolved as PicoClaw resolves
them, placeholders and short values dropped) and keeps what could not be watched, with the
reason, so validate and status can say so. Values are held in memory only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from traffic_guardian.detect.known_secrets import ConfiguredSecret
from traffic_guardian.detect.providers import UNBOUND, Binding
from traffic_guardian.picoclaw.secure_values import is_reference, resolve

MIN_SECRET_CHARS = 8  # shorter values ("admin", "1234") would match everywhere
MAX_SECRET_CHARS = 4096

# A field whose name says it holds a credential (api_key, bot_token, client_secret, password,
# Authorization, GITHUB_TOKEN ...).
SECRET_FIELD = re.compile(
    r"(?:^|[_\-.])(?:api[_-]?keys?|keys?|tokens?|secrets?|passwords?|passwd|passphrase|credentials?|authorization)$",
    re.IGNORECASE)
# Placeholders as PicoClaw's examples write them (sk-xxx, YOUR_API_KEY, sk-your-openai-key,
# <token>, ${VAR}) and the "[NOT_HERE]" marker its JSON writer puts where a secret lives in
# .security.yml; anchored on separators so a random real key never looks like one.
_PLACEHOLDER = re.compile(r"^(?:ref:|env:|\$\{|\$[A-Z_]|<|\[NOT_HERE\]$)|(?:^|[-_.])(?:your[-_]|x{3,}(?:$|[-_.]))"
                          r"|changeme|placeholder|example", re.IGNORECASE)
_AUTH_SCHEME = re.compile(r"^(?:bearer|bot|token|basic|apikey)\s+", re.IGNORECASE)


@dataclass
class Unwatchable:
    """A configured secret the monitor cannot know (an enc:// it cannot open, a missing file)."""

    owner: str
    kind: str
    source: str
    reason: str

    def to_dict(self) -> dict:
        return {"owner": self.owner, "kind": self.kind, "source": self.source, "reason": self.reason}


@dataclass
class SecretCollector:
    config_dir: Path
    env: dict[str, str]
    secrets: list[ConfiguredSecret] = field(default_factory=list)
    unwatchable: list[Unwatchable] = field(default_factory=list)
    credential_files: set[Path] = field(default_factory=set)  # file:// targets: a change means reload

    def count(self, source: str) -> int:
        return sum(1 for secret in self.secrets if secret.source == source)

    def add(self, value, owner: str, kind: str, source: str, binding: Binding = UNBOUND) -> None:
        """Every secret string in value (a string or a list of them), resolved and filtered."""
        for raw in value if isinstance(value, list) else [value]:
            if not isinstance(raw, str) or not raw.strip():
                continue
            secret = self.resolve(raw.strip(), owner, kind, source)
            if secret is not None:
                self.secrets.append(ConfiguredSecret(secret, owner, kind, source, binding))

    def resolve(self, raw: str, owner: str, kind: str, source: str) -> str | None:
        """The usable secret behind raw, or None (placeholder, too short, or unwatchable and recorded)."""
        if is_reference(raw):
            resolved = resolve(raw, self.config_dir, self.env)
            if resolved.file is not None:
                self.credential_files.add(resolved.file)
            if resolved.value is None:
                self.unwatchable.append(Unwatchable(owner, kind, source, resolved.reason or "empty"))
                return None
            raw = resolved.value
        value = _AUTH_SCHEME.sub("", raw.strip())
        if MIN_SECRET_CHARS <= len(value) <= MAX_SECRET_CHARS and not _PLACEHOLDER.search(value):
            return value
        return None


def is_secret_field(name) -> bool:
    return isinstance(name, str) and bool(SECRET_FIELD.search(name))


def looks_secret(value: str) -> bool:
    """A config.json value under a secret-sounding name that also looks like key material.

    Names alone are too loose there ("session_key": "agent:main"); .security.yml needs no
    such check because everything in it is a secret. References always count.
    """
    if is_reference(value.strip()):
        return True
    value = _AUTH_SCHEME.sub("", value.strip())
    return (len(value) >= 16 and not any(c.isspace() for c in value) and "://" not in value
            and value[0] not in "/~." and any(c.isdigit() for c in value) and any(c.isalpha() for c in value))
