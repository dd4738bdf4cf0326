"""trust: the guardian CA fingerprint, and bundles that ADD a CA to the default roots."""

from __future__ import annotations

import hashlib
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from traffic_guardian.home.guardian_home import GuardianHome
from traffic_guardian.home.trust import (
    ca_cert_path,
    certificate_fingerprint,
    guardian_ca_fingerprint,
    system_roots,
    write_client_bundle,
    write_upstream_bundle,
)

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory) -> Path:
    sys.path.insert(0, str(SCRIPTS))
    from demo_upstream import make_test_ca

    return make_test_ca(tmp_path_factory.mktemp("ca"))[0]


def test_fingerprint_is_sha256_of_der_in_openssl_form(test_ca):
    pem = test_ca.read_text()
    expected = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest().upper()
    assert certificate_fingerprint(pem).replace(":", "") == expected
    openssl = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(test_ca)],
                             capture_output=True, text=True)
    if openssl.returncode == 0:
        assert openssl.stdout.strip().endswith(certificate_fingerprint(pem))


def test_no_ca_yet_means_no_fingerprint(tmp_path):
    assert guardian_ca_fingerprint(GuardianHome(tmp_path)) is None


def test_client_bundle_holds_system_roots_and_the_guardian_ca(tmp_path, test_ca):
    home = GuardianHome(tmp_path)
    home.ensure_dir(home.confdir)
    ca_cert_path(home).write_text(test_ca.read_text())
    bundle = write_client_bundle(home, tmp_path / "ca" / "trust-bundle.pem")
    text = bundle.read_text()
    assert test_ca.read_text().strip() in text
    assert text.count("BEGIN CERTIFICATE") > 1  # the roots are kept: only our CA is added
    assert bundle.stat().st_mode & 0o777 == 0o600
    assert guardian_ca_fingerprint(home) == certificate_fingerprint(test_ca.read_text())


def test_upstream_bundle_adds_the_private_ca_to_the_default_roots(tmp_path, test_ca):
    bundle = write_upstream_bundle(GuardianHome(tmp_path), test_ca)
    assert bundle.parent == tmp_path / "ca"
    text = bundle.read_text()
    assert text.startswith(system_roots(prefer_certifi=True).rstrip("\n")[:200]) and test_ca.read_text().strip() in text


def test_upstream_bundle_refuses_a_file_without_a_certificate(tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("nothing here")
    with pytest.raises(ValueError, match="no PEM certificate"):
        write_upstream_bundle(GuardianHome(tmp_path), junk)
