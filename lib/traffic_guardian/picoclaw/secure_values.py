"""PicoClaw's secret references, resolved the way PicoClaw resolves them (pkg/credential/credential.go).

A secret field may hold the value itself, `file://<name>` or `enc://<base64>`. The monitor
must watch what PicoClaw actually sends, so:

- `file://<name>`: the file <config dir>/<name> (symlinks resolved, refused when it leaves
  that directory), its content stripped of surrounding whitespace. The file's content is
  the secret; the reference text never is.
- `enc://<base64>`: salt (16 bytes) | nonce (12) | AES-256-GCM ciphertext, the key derived
  by HKDF-SHA256 (info "picoclaw-credential-v1", that salt) from HMAC-SHA256 keyed by
  SHA-256 of the SSH private key file, over the passphrase. The passphrase comes from
  PICOCLAW_KEY_PASSPHRASE; the key file from PICOCLAW_SSH_KEY_PATH, else
  ~/.ssh/picoclaw_ed25519.key. Decrypted only when both are available to the monitor as
  they are to PicoClaw; otherwise the secret is "not watchable" with the reason, and the
  ciphertext is never watched as if it were the secret.

Nothing here logs or formats a value; a reason never quotes one.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path

FILE_SCHEME = "file://"
ENC_SCHEME = "enc://"
PASSPHRASE_ENV = "PICOCLAW_KEY_PASSPHRASE"  # noqa: S105 - the variable's name, not a value
SSH_KEY_ENV = "PICOCLAW_SSH_KEY_PATH"
DEFAULT_SSH_KEY = Path(".ssh") / "picoclaw_ed25519.key"  # under the user's home
_SALT, _NONCE, _KEY = 16, 12, 32
_HKDF_INFO = b"picoclaw-credential-v1"
MAX_CREDENTIAL_FILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Resolved:
    """A secret field's value as PicoClaw would use it, or why the monitor cannot know it."""

    value: str | None  # None: not watchable (reason says why) or empty
    reason: str | None = None
    file: Path | None = None  # the credential file a file:// value was read from (watched for changes)


def is_reference(raw: str) -> bool:
    return raw.startswith((FILE_SCHEME, ENC_SCHEME))


def resolve(raw: str, config_dir: Path, env: dict[str, str]) -> Resolved:
    if raw.startswith(FILE_SCHEME):
        return _resolve_file(raw[len(FILE_SCHEME):].strip(), Path(config_dir))
    if raw.startswith(ENC_SCHEME):
        return _resolve_encrypted(raw[len(ENC_SCHEME):], env)
    return Resolved(raw)


def _resolve_file(name: str, config_dir: Path) -> Resolved:
    if not name:
        return Resolved(None, "file:// reference with no file name")
    base = Path(os.path.realpath(config_dir))
    path = Path(os.path.realpath(base / name.lstrip("/")))  # Go's filepath.Join: an absolute name stays inside
    if path != base and base not in path.parents:
        return Resolved(None, "file:// path leaves the config directory (PicoClaw refuses it too)")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CREDENTIAL_FILE_BYTES + 1)
    except OSError as exc:
        return Resolved(None, f"file:// {path}: not readable ({exc.strerror or type(exc).__name__})", path)
    if len(data) > MAX_CREDENTIAL_FILE_BYTES:
        return Resolved(None, f"file:// {path}: larger than {MAX_CREDENTIAL_FILE_BYTES} bytes", path)
    try:
        value = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return Resolved(None, f"file:// {path}: not UTF-8 text", path)
    if not value:
        return Resolved(None, f"file:// {path}: empty", path)
    return Resolved(value, None, path)


def ssh_key_path(env: dict[str, str]) -> Path | None:
    """The key file PicoClaw would use: PICOCLAW_SSH_KEY_PATH when set (even to ""), else the default."""
    if SSH_KEY_ENV in env:
        return Path(env[SSH_KEY_ENV]) if env[SSH_KEY_ENV] else None
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(home) / DEFAULT_SSH_KEY


def _resolve_encrypted(payload: str, env: dict[str, str]) -> Resolved:
    passphrase = env.get(PASSPHRASE_ENV, "")
    if not passphrase:
        return Resolved(None, f"enc:// value: {PASSPHRASE_ENV} is not set for the monitor")
    key_file = ssh_key_path(env)
    if key_file is None:
        return Resolved(None, f"enc:// value: {SSH_KEY_ENV} is empty, so PicoClaw has no SSH key either")
    try:
        blob = base64.b64decode(payload.strip(), validate=True)
    except (binascii.Error, ValueError):
        return Resolved(None, "enc:// value: not base64")
    if len(blob) < _SALT + _NONCE + 1:
        return Resolved(None, "enc:// value: too short")
    try:
        ssh_bytes = key_file.read_bytes()
    except OSError as exc:
        return Resolved(None, f"enc:// value: SSH key {key_file} not readable ({exc.strerror or type(exc).__name__})")
    try:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives import hashes, hmac
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    except ImportError:
        return Resolved(None, "enc:// value: the cryptography package is not installed")
    import hashlib

    salt, nonce, ciphertext = blob[:_SALT], blob[_SALT:_SALT + _NONCE], blob[_SALT + _NONCE:]
    mac = hmac.HMAC(hashlib.sha256(ssh_bytes).digest(), hashes.SHA256())
    mac.update(passphrase.encode("utf-8"))
    key = HKDF(algorithm=hashes.SHA256(), length=_KEY, salt=salt, info=_HKDF_INFO).derive(mac.finalize())
    try:
        plaintext = AESGCM(key).decrypt(nonce, ciphertext, None)
    except InvalidTag:
        return Resolved(None, "enc:// value: decryption failed (wrong passphrase or SSH key)")
    try:
        return Resolved(plaintext.decode("utf-8"))
    except UnicodeDecodeError:
        return Resolved(None, "enc:// value: decrypted bytes are not UTF-8 text")
