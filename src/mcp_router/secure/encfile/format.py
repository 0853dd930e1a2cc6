"""Byte layout of ``tokens.enc`` (format version 1). ``docs/file-format.md`` is the spec.

::

    offset  size  field
    0       8     magic        b"MCPRTOKS"
    8       1     version      1
    9       1     kdf          1 = PBKDF2-HMAC-SHA256
    10      1     flags        bit 0: a passphrase is mixed into the key; other bits 0
    11      1     reserved     0
    12      4     iterations   unsigned big-endian, 100,000 .. 10,000,000
    16      16    salt
    32      12    nonce
    44      n+16  AES-256-GCM ciphertext of the payload, then the 16-byte tag

The 44 header bytes are the GCM associated data. The payload is UTF-8 JSON,
``{"tokens":{name:value,...},"version":1}`` with sorted keys and no spaces.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

from mcp_router.errors import CorruptStoreError

__all__ = [
    "FLAG_PASSPHRASE",
    "HEADER_SIZE",
    "KDF_PBKDF2_SHA256",
    "MAGIC",
    "MAX_ITERATIONS",
    "MIN_ITERATIONS",
    "NONCE_SIZE",
    "SALT_SIZE",
    "TAG_SIZE",
    "VERSION",
    "Header",
    "parse_file",
    "parse_payload",
    "serialize_payload",
]

MAGIC = b"MCPRTOKS"
VERSION = 1
KDF_PBKDF2_SHA256 = 1
FLAG_PASSPHRASE = 0x01
MIN_ITERATIONS = 100_000
MAX_ITERATIONS = 10_000_000
SALT_SIZE = 16
NONCE_SIZE = 12
TAG_SIZE = 16
_FIXED = struct.Struct(">8sBBBBI")  # magic, version, kdf, flags, reserved, iterations
HEADER_SIZE = _FIXED.size + SALT_SIZE + NONCE_SIZE  # 44


@dataclass(frozen=True)
class Header:
    """The authenticated header. ``nonce`` changes on every write; the rest per file."""

    iterations: int
    salt: bytes
    nonce: bytes
    passphrase: bool = False
    kdf: int = KDF_PBKDF2_SHA256
    version: int = VERSION

    def to_bytes(self) -> bytes:
        flags = FLAG_PASSPHRASE if self.passphrase else 0
        fixed = _FIXED.pack(MAGIC, self.version, self.kdf, flags, 0, self.iterations)
        return fixed + self.salt + self.nonce


def parse_file(data: bytes) -> tuple[Header, bytes]:
    """Split a file into its validated header and the ciphertext (with tag).

    Raises :class:`CorruptStoreError` for anything a reader must reject.
    """
    if len(data) < HEADER_SIZE + TAG_SIZE:
        raise CorruptStoreError(f"file is truncated ({len(data)} bytes)")
    magic, version, kdf, flags, reserved, iterations = _FIXED.unpack_from(data)
    if magic != MAGIC:
        raise CorruptStoreError("not an mcp-router token file (bad magic bytes)")
    if version != VERSION:
        raise CorruptStoreError(
            f"unsupported file format version {version}",
            hint="upgrade mcp-router to read it",
        )
    if kdf != KDF_PBKDF2_SHA256:
        raise CorruptStoreError(f"unknown key-derivation function id {kdf}")
    if flags & ~FLAG_PASSPHRASE or reserved:
        raise CorruptStoreError("unknown flags set in the file header")
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise CorruptStoreError(f"iteration count {iterations} is out of range")
    salt_end = _FIXED.size + SALT_SIZE
    header = Header(
        iterations=iterations,
        salt=data[_FIXED.size:salt_end],
        nonce=data[salt_end:HEADER_SIZE],
        passphrase=bool(flags & FLAG_PASSPHRASE),
    )
    return header, data[HEADER_SIZE:]


def serialize_payload(tokens: dict[str, str]) -> bytes:
    return json.dumps(
        {"tokens": tokens, "version": 1},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def parse_payload(plaintext: bytes) -> dict[str, str]:
    """Decode a decrypted payload. Messages never quote the plaintext."""
    try:
        doc = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CorruptStoreError("decrypted payload is not valid UTF-8 JSON") from None
    if not isinstance(doc, dict) or doc.get("version") != 1 or set(doc) != {"tokens", "version"}:
        raise CorruptStoreError("decrypted payload has an unexpected structure")
    tokens = doc["tokens"]
    if not isinstance(tokens, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tokens.items()
    ):
        raise CorruptStoreError("decrypted payload has an unexpected structure")
    return tokens
