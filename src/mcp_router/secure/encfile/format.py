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
``{"tokens":{name:value,...},"version":1}`` with sorted keys and no spaces, in exactly the
canonical form :func:`serialize_payload` writes; a reader rejects any other encoding of the
same data (see ``docs/file-format.md``), so one set of tokens has exactly one payload.
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
    "PAYLOAD_VERSION",
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
PAYLOAD_VERSION = 1
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

    def __post_init__(self) -> None:
        # A writer must never produce a header that a reader rejects.
        if (
            self.version != VERSION
            or self.kdf != KDF_PBKDF2_SHA256
            or not MIN_ITERATIONS <= self.iterations <= MAX_ITERATIONS
            or len(self.salt) != SALT_SIZE
            or len(self.nonce) != NONCE_SIZE
        ):
            raise ValueError("invalid tokens.enc header fields")

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
    if flags & ~FLAG_PASSPHRASE:
        raise CorruptStoreError(f"unknown flags 0x{flags:02x} set in the file header")
    if reserved:
        raise CorruptStoreError("the reserved header byte is not zero")
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
    """The canonical payload: the only encoding of ``tokens`` a reader accepts."""
    return json.dumps(
        {"tokens": tokens, "version": PAYLOAD_VERSION},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def parse_payload(plaintext: bytes) -> dict[str, str]:
    """Decode a decrypted payload, accepting only the canonical encoding.

    Rejected with :class:`CorruptStoreError`: invalid UTF-8 or JSON, duplicate keys, any
    structure other than ``{"tokens": {str: str}, "version": 1}``, and any encoding that
    differs from :func:`serialize_payload` of the same tokens (spaces, key order, escapes).
    Messages never quote the plaintext.
    """
    try:
        doc = json.loads(plaintext.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CorruptStoreError("decrypted payload is not valid UTF-8 JSON") from None
    tokens = _checked_structure(doc)
    try:
        canonical = serialize_payload(tokens)
    except UnicodeEncodeError:  # an escaped unpaired surrogate such as "\ud800"
        canonical = b""
    if canonical != plaintext:
        raise CorruptStoreError("decrypted payload is not in canonical form")
    return tokens


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        raise ValueError("duplicate key")  # reported as invalid JSON, without the key
    return doc


def _checked_structure(doc: object) -> dict[str, str]:
    unexpected = CorruptStoreError("decrypted payload has an unexpected structure")
    if not isinstance(doc, dict) or set(doc) != {"tokens", "version"}:
        raise unexpected
    version, tokens = doc["version"], doc["tokens"]
    # type() rather than isinstance: JSON true and 1.0 compare equal to 1 in Python.
    if type(version) is not int or version != PAYLOAD_VERSION:
        raise unexpected
    if not isinstance(tokens, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tokens.items()
    ):
        raise unexpected
    return tokens
