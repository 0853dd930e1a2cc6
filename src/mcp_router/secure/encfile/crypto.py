"""Key derivation and AES-256-GCM for ``tokens.enc``: the only module that imports
``cryptography.hazmat``.

The PBKDF2 password is::

    b"mcp-router/tokens.enc/v1" 0x00 machine-id 0x00 user-id [0x00 passphrase]

(all UTF-8; the passphrase part only when the header's passphrase flag is set). Derived
keys are cached per process, so a command derives at most once.
"""

from __future__ import annotations

import hashlib
import os

from mcp_router.errors import DecryptionError
from mcp_router.secure.encfile.format import (
    NONCE_SIZE,
    SALT_SIZE,
    Header,
    parse_file,
    parse_payload,
    serialize_payload,
)

__all__ = [
    "KeyMaterial",
    "decrypt_file",
    "derive_key",
    "encrypt_file",
    "new_header",
]

_CONTEXT = b"mcp-router/tokens.enc/v1"
_key_cache: dict[bytes, bytes] = {}


class KeyMaterial:
    """What the key is derived from. ``repr`` shows none of it."""

    __slots__ = ("machine_id", "passphrase", "user_id")

    def __init__(self, machine_id: str, user_id: str, passphrase: str | None = None) -> None:
        self.machine_id = machine_id
        self.user_id = user_id
        self.passphrase = passphrase

    def password(self, with_passphrase: bool) -> bytes:
        parts = [_CONTEXT, self.machine_id.encode(), self.user_id.encode()]
        if with_passphrase:
            parts.append((self.passphrase or "").encode("utf-8"))
        return b"\x00".join(parts)

    def __repr__(self) -> str:
        return "KeyMaterial([secure])"


def derive_key(material: KeyMaterial, header: Header) -> bytes:
    """PBKDF2-HMAC-SHA256 -> 32-byte AES key, cached for the life of the process."""
    password = material.password(header.passphrase)
    cache_key = hashlib.sha256(
        password + b"\x00" + header.salt + header.iterations.to_bytes(4, "big")
    ).digest()
    key = _key_cache.get(cache_key)
    if key is None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

        kdf = PBKDF2HMAC(
            algorithm=hashes.SHA256(), length=32, salt=header.salt,
            iterations=header.iterations,
        )
        key = kdf.derive(password)
        _key_cache[cache_key] = key
    return key


def new_header(iterations: int, passphrase: bool) -> Header:
    """A header for a new file: fresh random salt and nonce."""
    return Header(
        iterations=iterations,
        salt=os.urandom(SALT_SIZE),
        nonce=os.urandom(NONCE_SIZE),
        passphrase=passphrase,
    )


def encrypt_file(tokens: dict[str, str], material: KeyMaterial, header: Header) -> bytes:
    """The complete file for ``tokens``, with a fresh nonce in place of ``header``'s."""
    fresh = Header(
        iterations=header.iterations,
        salt=header.salt,
        nonce=os.urandom(NONCE_SIZE),
        passphrase=header.passphrase,
    )
    return _encrypt_from_parts(tokens, derive_key(material, fresh), fresh)


def _encrypt_from_parts(tokens: dict[str, str], key: bytes, header: Header) -> bytes:
    """Deterministic given key and header (test vectors use this directly)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    head = header.to_bytes()
    return head + AESGCM(key).encrypt(header.nonce, serialize_payload(tokens), head)


def decrypt_file(data: bytes, material: KeyMaterial) -> tuple[Header, dict[str, str]]:
    """Parse and decrypt a whole file.

    :class:`CorruptStoreError` for a malformed header or payload; :class:`DecryptionError`
    when authentication fails (wrong key or modified bytes: deliberately one error).
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header, ciphertext = parse_file(data)
    key = derive_key(material, header)
    try:
        plaintext = AESGCM(key).decrypt(header.nonce, ciphertext, header.to_bytes())
    except InvalidTag:
        raise DecryptionError(
            "cannot decrypt the token file: the key is wrong (machine id, user or "
            "passphrase differ from when it was written) or the file was modified",
            hint="check MCP_ROUTER_PASSPHRASE; the file was left untouched",
        ) from None
    return header, parse_payload(plaintext)
