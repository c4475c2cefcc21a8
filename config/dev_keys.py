"""Development-only key material for the embedded run and the test suite.

Keys are generated once into ``var/dev-keys/`` so that the web process, the worker and
the sandboxes agree on them across restarts. Production settings never call this.
"""

from __future__ import annotations

import base64
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from integrations.crypto import sm2

KEY_DIR = Path(__file__).resolve().parent.parent / "var" / "dev-keys"


def _write_once(path: Path, data: bytes) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    try:
        os.link(tmp, path)  # atomic: the first writer wins, later ones read its key
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes()


def rsa_private_pem(name: str) -> str:
    path = KEY_DIR / f"{name}.pem"
    if path.exists():
        return path.read_text()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return _write_once(path, pem).decode()


def rsa_public_pem(name: str) -> str:
    private = serialization.load_pem_private_key(rsa_private_pem(name).encode(), password=None)
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sm2_private_pem(name: str) -> str:
    """An SM2 key (PKCS#8 PEM) for a party's national-cryptography mode."""
    path = KEY_DIR / f"{name}.sm2.pem"
    if path.exists():
        return path.read_text()
    pem = sm2.private_key_pem(sm2.generate_private_key())
    return _write_once(path, pem.encode()).decode()


def sm2_public_pem(name: str) -> str:
    return sm2.public_key_pem(sm2.load_private_key(sm2_private_pem(name)).public_key())


def secret_b64(name: str, size: int = 32) -> str:
    path = KEY_DIR / f"{name}.key"
    if path.exists():
        return path.read_text().strip()
    return _write_once(path, base64.b64encode(secrets.token_bytes(size))).decode().strip()


def self_signed_certificate_pem(name: str, common_name: str) -> str:
    """A development X.509 certificate for the RSA key ``name``, stable across restarts."""
    path = KEY_DIR / f"{name}.crt"
    if path.exists():
        return path.read_text()
    key = serialization.load_pem_private_key(rsa_private_pem(name).encode(), password=None)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return _write_once(path, certificate.public_bytes(serialization.Encoding.PEM)).decode()
