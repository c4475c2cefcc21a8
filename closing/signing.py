"""The signature a settlement report's CSV travels with, and the key the bureau checks it by.

SM2 with SM3 (GB/T 32918, integrations.crypto.sm2) over the CSV file's exact bytes, with
the default user id of GM/T 0009 (1234567812345678); the signature is DER
(SEQUENCE {r, s}), served beside the file as ``<file>.sig``. The key is the service's
own (CLOSING["signing_key_pem"]); its public half is published as PEM.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from integrations.crypto import sm2


def signing_configured() -> bool:
    return bool(settings.CLOSING.get("signing_key_pem"))


def signature_of(content: bytes) -> bytes:
    return sm2.sign(content, _key())


def public_key_pem() -> str:
    return sm2.public_key_pem(_key().public_key())


def _key() -> sm2.PrivateKey:
    pem = settings.CLOSING.get("signing_key_pem")
    if not pem:
        raise ImproperlyConfigured("CLOSING['signing_key_pem'] is not set: no CSV is signed")
    return sm2.load_private_key(pem)
