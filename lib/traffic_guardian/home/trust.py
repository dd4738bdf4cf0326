"""Per-process trust material: the guardian CA's fingerprint and the CA bundles we write.

The guardian CA is created by mitmproxy inside the home (<home>/mitmproxy, key 0600) and
is never installed anywhere. A scoped child trusts it through a bundle file in the home
(system roots + the guardian CA) named by SSL_CERT_FILE and friends. For upstream
verification mitmproxy replaces its default roots with whatever file it is given, so
`upstream_ca_bundle` is ADDED to the default roots in a second bundle rather than passed
alone: a private upstream becomes trusted without public upstreams becoming unverified.
"""

from __future__ import annotations

import hashlib
import re
import ssl
from pathlib import Path

from traffic_guardian.home.guardian_home import GuardianHome

CA_CERT_NAME = "mitmproxy-ca-cert.pem"  # public certificate mitmproxy writes into its confdir
UPSTREAM_BUNDLE_NAME = "upstream-trust.pem"
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")
COMMON_ROOT_FILES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/cert.pem",  # macOS, BSD
    "/etc/ssl/ca-bundle.pem",  # openSUSE
)


def ca_cert_path(home: GuardianHome) -> Path:
    return home.confdir / CA_CERT_NAME


def certificate_fingerprint(pem: str) -> str:
    """SHA-256 of the first certificate's DER, as `openssl x509 -fingerprint -sha256` prints it."""
    match = _PEM_CERT.search(pem)
    if match is None:
        raise ValueError("no PEM certificate found")
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(match.group(0))).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def guardian_ca_fingerprint(home: GuardianHome) -> str | None:
    try:
        return certificate_fingerprint(home.read_text(ca_cert_path(home)))
    except (FileNotFoundError, OSError, ValueError):
        return None


def system_roots(prefer_certifi: bool = False) -> str:
    """PEM text of the default trusted roots: the system store, or certifi (mitmproxy's default)."""
    candidates: list[str] = []
    certifi_file = _certifi_where()
    if prefer_certifi and certifi_file:
        candidates.append(certifi_file)
    paths = ssl.get_default_verify_paths()
    candidates += [p for p in (paths.cafile, paths.openssl_cafile) if p]
    candidates += list(COMMON_ROOT_FILES)
    if certifi_file:
        candidates.append(certifi_file)
    for candidate in candidates:
        try:
            text = Path(candidate).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if _PEM_CERT.search(text):
            return text
    return ""


def _certifi_where() -> str | None:
    try:
        import certifi  # present in the bundle's venv (mitmproxy depends on it)
    except ImportError:
        return None
    return certifi.where()


def write_client_bundle(home: GuardianHome, bundle: Path) -> Path:
    """System roots + the guardian CA, for scoped children (SSL_CERT_FILE and friends)."""
    ca_pem = home.read_text(ca_cert_path(home))
    roots = system_roots()
    label = "# picoclaw-traffic-guardian CA (this home only)"
    data = roots.rstrip("\n") + f"\n\n{label}\n" + ca_pem.strip() + "\n"
    home.write_atomic(bundle, data.encode())
    return bundle


def write_upstream_bundle(home: GuardianHome, extra_ca: Path) -> Path:
    """Default roots + the operator's private CA, for mitmproxy's ssl_verify_upstream_trusted_ca."""
    extra = Path(extra_ca).expanduser().read_text(encoding="utf-8", errors="replace")
    if not _PEM_CERT.search(extra):
        raise ValueError(f"{extra_ca}: holds no PEM certificate")
    roots = system_roots(prefer_certifi=True)
    path = home.root / "ca" / UPSTREAM_BUNDLE_NAME
    data = roots.rstrip("\n") + "\n\n# upstream_ca_bundle\n" + extra.strip() + "\n"
    home.write_atomic(path, data.encode())
    return path
