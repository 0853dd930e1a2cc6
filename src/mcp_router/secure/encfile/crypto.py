"""Key derivation and AES-256-GCM for ``tokens.enc``: the only module that imports
``cryptography.hazmat``.

The PBKDF2 password is::

    b"mcp-router/tokens.enc/v1" 0x00 machine-id 0x00 user-id [0x00 passphrase]

(all UTF-8; the passphrase part only when the header's passphrase flag is set).
``docs/file-format.md`` is the specification.

Derived keys are cached on the :class:`KeyMaterial` that produced them, keyed by the header
fields that enter the derivation (salt, iterations, passphrase flag). A backend keeps one
``KeyMaterial`` for its lifetime, so a command derives a key at most once per file salt,
and a key lives no longer than the store object that needed it. The cache is deliberately
not a process-wide table indexed by a hash of the password: such an index would be a
fast, unsalted-by-PBKDF2 check of the passphrase sitting in memory.
"""

from __future__ import annotations

import os

from mcp_router.errors import DecryptionError, StorageUnavailableError, StoreLockedError
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

CONTEXT = b"mcp-router/tokens.enc/v1"
KEY_SIZE = 32


class KeyMaterial:
    """What the key is derived from, and the keys derived from it. ``repr`` shows none."""

    __slots__ = ("_keys", "machine_id", "passphrase", "user_id")

    def __init__(self, machine_id: str, user_id: str, passphrase: str | None = None) -> None:
        for label, value in (("machine id", machine_id), ("user id", user_id)):
            if not value or "\x00" in value:
                # NUL separates the parts of the password; one inside a part is ambiguous.
                raise StorageUnavailableError(
                    f"the {label} is empty or contains a NUL character",
                    hint="fix the machine's identity (see docs/file-format.md)",
                )
        self.machine_id = machine_id
        self.user_id = user_id
        self.passphrase = passphrase
        self._keys: dict[tuple[bytes, int, bool], bytes] = {}

    def password(self, with_passphrase: bool) -> bytes:
        """The exact PBKDF2 password bytes for a file with (or without) the passphrase flag."""
        parts = [CONTEXT, self.machine_id.encode("utf-8"), self.user_id.encode("utf-8")]
        if with_passphrase:
            if not self.passphrase:
                raise StoreLockedError(
                    "the token file is protected by a passphrase and none was given",
                    hint="set MCP_ROUTER_PASSPHRASE or run the command in a terminal",
                )
            try:
                parts.append(self.passphrase.encode("utf-8"))
            except UnicodeEncodeError:
                raise StoreLockedError(
                    "the passphrase is not valid UTF-8 text",
                    hint="set MCP_ROUTER_PASSPHRASE to the passphrase as UTF-8",
                ) from None
        return b"\x00".join(parts)

    def forget(self) -> None:
        """Drop the cached keys (best effort: Python cannot wipe the bytes themselves)."""
        self._keys.clear()

    def __repr__(self) -> str:
        return "KeyMaterial([secure])"


def derive_key(material: KeyMaterial, header: Header) -> bytes:
    """PBKDF2-HMAC-SHA256 -> 32-byte AES key; cached on ``material`` per salt/iterations."""
    slot = (header.salt, header.iterations, header.passphrase)
    key = material._keys.get(slot)
    if key is None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

        kdf = PBKDF2HMAC(
            algorithm=hashes.SHA256(), length=KEY_SIZE, salt=header.salt,
            iterations=header.iterations,
        )
        key = kdf.derive(material.password(header.passphrase))
        material._keys[slot] = key
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
    """The complete file for ``tokens``: ``header``'s salt and settings, a fresh nonce.

    The nonce is drawn here, on every call, so that no caller can reuse one by passing
    back the header it read.
    """
    fresh = Header(
        iterations=header.iterations,
        salt=header.salt,
        nonce=os.urandom(NONCE_SIZE),
        passphrase=header.passphrase,
    )
    return _encrypt_from_parts(tokens, derive_key(material, fresh), fresh)


def _encrypt_from_parts(tokens: dict[str, str], key: bytes, header: Header) -> bytes:
    """Deterministic given key and header (the test-vector script uses this directly)."""
    return _seal(serialize_payload(tokens), key, header)


def _seal(payload: bytes, key: bytes, header: Header) -> bytes:
    """Header bytes, then AES-256-GCM(payload) with the header as associated data.

    Seals any bytes: the vector script uses it to build files whose payload a reader must
    reject. Real writers go through :func:`encrypt_file`.
    """
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    head = header.to_bytes()
    return head + AESGCM(key).encrypt(header.nonce, payload, head)


def _open(header: Header, ciphertext: bytes, key: bytes) -> dict[str, str]:
    """Authenticate and decrypt with a known key, then parse the payload."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        plaintext = AESGCM(key).decrypt(header.nonce, ciphertext, header.to_bytes())
    except InvalidTag:
        raise DecryptionError(
            "cannot decrypt the token file: the key is wrong (machine id, user or "
            "passphrase differ from when it was written) or the file was modified",
            hint="check MCP_ROUTER_PASSPHRASE; the file was left untouched",
        ) from None
    return parse_payload(plaintext)


def decrypt_file(data: bytes, material: KeyMaterial) -> tuple[Header, dict[str, str]]:
    """Parse and decrypt a whole file.

    :class:`CorruptStoreError` for a malformed header or payload; :class:`DecryptionError`
    when authentication fails (wrong key or modified bytes: deliberately one error).
    """
    header, ciphertext = parse_file(data)
    return header, _open(header, ciphertext, derive_key(material, header))
