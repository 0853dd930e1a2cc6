"""The cipher of the Secret Service transport: AES-128-CBC with PKCS#7 padding.

The Secret Service algorithm ``dh-ietf1024-sha256-aes128-cbc-pkcs7`` encrypts a secret on
its way over D-Bus under a key from a Diffie-Hellman exchange (``secretstorage`` does the
exchange). It lives here because this package is the one place that imports
``cryptography.hazmat``. Unlike ``secretstorage``'s own helpers these do not load the
OpenSSL backend module, which costs about 6 ms in every ``token get``.
"""

from __future__ import annotations

import os

from mcp_router.errors import CorruptStoreError

__all__ = ["cbc_decrypt", "cbc_encrypt"]

_BLOCK = 16


def cbc_encrypt(key: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
    """``(iv, ciphertext)`` of ``plaintext`` padded with PKCS#7, under a fresh random IV."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    padding = _BLOCK - len(plaintext) % _BLOCK
    iv = os.urandom(_BLOCK)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return iv, encryptor.update(plaintext + bytes([padding]) * padding) + encryptor.finalize()


def cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """The plaintext; :class:`CorruptStoreError` when the length or padding is wrong."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if len(iv) != _BLOCK or not ciphertext or len(ciphertext) % _BLOCK:
        raise CorruptStoreError("the Secret Service sent a malformed encrypted secret")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    padding = padded[-1]
    if not 1 <= padding <= _BLOCK or padded[-padding:] != bytes([padding]) * padding:
        raise CorruptStoreError("the Secret Service sent a secret that does not decrypt "
                                "under the session key")
    return padded[:-padding]
