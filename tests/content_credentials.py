"""Test support: C2PA signing with a certificate the tests make themselves, validation through
c2pa-python, and reading files with exiftool.

c2pa-python signs only with a certificate chain it would accept from a real signer: an ES256
end-entity certificate with the digitalSignature key usage and an extended key usage C2PA allows
(emailProtection here), issued by a CA certificate (a self-signed leaf is refused). Both are made
here with `cryptography` (a dependency of c2pa-python), valid for a day around now.

exiftool (Debian `libimage-exiftool-perl`) is an outside program: tests that need it skip when
it is missing, except under CI (env CI set), where `.ci/run` installs it and its absence fails.
"""

from __future__ import annotations

import datetime
import functools
import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from flux_cli.sandbox.render import ContentSigner

c2pa = pytest.importorskip("c2pa", reason="c2pa-python is in the test extra")

MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
SIGNER_NAME = "flux2 test signer"
SIGNER_ORG = "flux2 tests"


@functools.cache
def make_signer() -> ContentSigner:
    """A sandbox signer with a fresh CA and end-entity certificate (made once per session)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common_name: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, SIGNER_ORG),
            ]
        )

    def usage(*, sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=sign,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=not sign,
            crl_sign=not sign,
            encipher_only=False,
            decipher_only=False,
        )

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("flux2 test CA"))
        .issuer_name(name("flux2 test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=12))
        .not_valid_after(now + datetime.timedelta(hours=12))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name(SIGNER_NAME))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=12))
        .not_valid_after(now + datetime.timedelta(hours=12))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(sign=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + ca.public_bytes(pem)
    private = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ContentSigner(chain, private)


def validation(data: bytes, fmt: str) -> tuple[str | None, set[str], set[str]]:
    """(validation state, failure codes, success codes) of `data`'s active manifest."""
    with c2pa.Reader(MEDIA_TYPES[fmt], io.BytesIO(data)) as reader:
        store: dict[str, Any] = json.loads(reader.json())
    results = store.get("validation_results", {}).get("activeManifest", {})
    failures = {item["code"] for item in results.get("failure", [])}
    successes = {item["code"] for item in results.get("success", [])}
    return store.get("validation_state"), failures, successes


def assert_credentials_valid(data: bytes, fmt: str) -> None:
    """The manifest validates: its data hash matches the file; only the (test) signer is
    untrusted, since no trust list is configured."""
    state, failures, successes = validation(data, fmt)
    assert "assertion.dataHash.match" in successes, failures
    assert failures <= {"signingCredential.untrusted"}, failures
    assert state in ("Valid", "Trusted"), (state, failures)


def exiftool() -> str:
    found = shutil.which("exiftool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("exiftool is missing (Debian: libimage-exiftool-perl); .ci/run installs it")
        pytest.skip("exiftool is not installed (Debian: libimage-exiftool-perl)")
    return found


def exif_tags(path: Path) -> dict[str, Any]:
    """What exiftool reads in `path`: every tag, grouped (`XMP-dc:Description`), warnings too."""
    proc = subprocess.run(
        [exiftool(), "-j", "-a", "-G1", "-struct", "-charset", "utf8", str(path)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    records: list[dict[str, Any]] = json.loads(proc.stdout)
    return records[0]
