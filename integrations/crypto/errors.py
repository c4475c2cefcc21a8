"""The errors of the national cryptography primitives.

They are ValueErrors of their own, not ProviderErrors: a primitive does not know whether
its input came from a party, a file or our own database. An adapter that gets one from a
party's message raises the party's error (InvalidNotification, ProviderError) from it.
"""

from __future__ import annotations


class CryptoError(ValueError):
    """Base of everything the primitives raise on bad input."""


class InvalidKey(CryptoError):
    """A key that cannot be read, is of the wrong size, or is not on the SM2 curve."""


class MalformedEncoding(CryptoError):
    """A signature or ciphertext whose DER or raw encoding cannot be read."""


class DecryptionFailed(CryptoError):
    """A ciphertext that does not open under the key given: wrong key, altered or truncated."""
