"""Byte layout and cryptography of backup files (``token backup``), format version 1.

``docs/file-format.md`` ("Backup files") is the spec. ::

    offset  size  field
    0       8     magic      b"MCPRBKUP"
    8       1     version    1
    9       1     kdf        1 = scrypt
    10      1     flags      0 (a reader MUST reject any other value)
    11      1     reserved   0
    12      1     log2_n     scrypt cost N = 2**log2_n, 15 .. 20 (writer default 17)
    13      1     r          scrypt block size, 8
    14      1     p          scrypt parallelism, 1 .. 16 (writer default 1)
    15      1     reserved   0
    16      16    salt       random per file
    32      12    nonce      random per file
    44      n+16  AES-256-GCM ciphertext of the payload, then the 16-byte tag

The 44 header bytes are the associated data. The key is
``scrypt(NFC(passphrase) as UTF-8, salt, N, r, p, 32 bytes)``. The payload is UTF-8 JSON
with sorted keys and no spaces (see :func:`serialize_payload`).
"""

from __future__ import annotations

import json
import os
import struct
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mcp_router.errors import CorruptStoreError, DecryptionError

__all__ = [
    "DEFAULT_LOG2_N",
    "HEADER_SIZE",
    "MAGIC",
    "VERSION",
    "BackupHeader",
    "decrypt_backup",
    "derive_backup_key",
    "encrypt_backup",
    "parse_header",
    "parse_payload",
    "parse_time",
    "serialize_payload",
]

MAGIC = b"MCPRBKUP"
VERSION = 1
KDF_SCRYPT = 1
DEFAULT_LOG2_N = 17  # 128 MiB of memory with r = 8
MIN_LOG2_N, MAX_LOG2_N = 15, 20  # 32 MiB .. 1 GiB: a file cannot demand more
SCRYPT_R = 8
MAX_P = 16
SALT_SIZE, NONCE_SIZE, TAG_SIZE = 16, 12, 16
_FIXED = struct.Struct(">8sBBBBBBBB")
HEADER_SIZE = _FIXED.size + SALT_SIZE + NONCE_SIZE  # 44
_TIME_FIELDS = ("created", "updated", "rotated", "last_used")
_TOKEN_FIELDS = {"name", "value", "previous", *_TIME_FIELDS}


@dataclass(frozen=True)
class BackupHeader:
    salt: bytes
    nonce: bytes
    log2_n: int = DEFAULT_LOG2_N
    r: int = SCRYPT_R
    p: int = 1
    version: int = VERSION
    kdf: int = KDF_SCRYPT

    def to_bytes(self) -> bytes:
        fixed = _FIXED.pack(MAGIC, self.version, self.kdf, 0, 0, self.log2_n, self.r,
                            self.p, 0)
        return fixed + self.salt + self.nonce


def parse_header(data: bytes) -> tuple[BackupHeader, bytes]:
    """The validated header and the ciphertext; :class:`CorruptStoreError` on anything a
    reader must reject."""
    if len(data) < HEADER_SIZE + TAG_SIZE:
        raise CorruptStoreError(f"the backup file is truncated ({len(data)} bytes)")
    magic, version, kdf, flags, res1, log2_n, r, p, res2 = _FIXED.unpack_from(data)
    if magic != MAGIC:
        raise CorruptStoreError("not an mcp-router backup file (bad magic bytes)")
    if version != VERSION:
        raise CorruptStoreError(f"unsupported backup format version {version}",
                                hint="restore it with a newer mcp-router")
    if kdf != KDF_SCRYPT:
        raise CorruptStoreError(f"unknown key-derivation function id {kdf} in the backup")
    if flags or res1 or res2:
        raise CorruptStoreError("unknown flags set in the backup header")
    if not (MIN_LOG2_N <= log2_n <= MAX_LOG2_N and r == SCRYPT_R and 1 <= p <= MAX_P):
        raise CorruptStoreError(f"scrypt parameters out of range (log2 N={log2_n}, r={r}, "
                                f"p={p}) in the backup header")
    salt_end = _FIXED.size + SALT_SIZE
    header = BackupHeader(salt=data[_FIXED.size:salt_end], nonce=data[salt_end:HEADER_SIZE],
                          log2_n=log2_n, r=r, p=p)
    return header, data[HEADER_SIZE:]


def derive_backup_key(passphrase: str, header: BackupHeader) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    secret = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    kdf = Scrypt(salt=header.salt, length=32, n=2**header.log2_n, r=header.r, p=header.p)
    return kdf.derive(secret)


def encrypt_backup(doc: dict[str, Any], passphrase: str, *,
                   log2_n: int = DEFAULT_LOG2_N) -> bytes:
    """A complete backup file for ``doc``, with a fresh random salt and nonce."""
    return _encrypt_from_parts(serialize_payload(doc), passphrase, os.urandom(SALT_SIZE),
                               os.urandom(NONCE_SIZE), log2_n=log2_n)


def _encrypt_from_parts(plaintext: bytes, passphrase: str, salt: bytes, nonce: bytes, *,
                        log2_n: int = DEFAULT_LOG2_N, p: int = 1) -> bytes:
    """Deterministic given salt and nonce (the test-vector script uses this directly)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = BackupHeader(salt=salt, nonce=nonce, log2_n=log2_n, p=p)
    head = header.to_bytes()
    key = derive_backup_key(passphrase, header)
    return head + AESGCM(key).encrypt(nonce, plaintext, head)


def decrypt_backup(data: bytes, passphrase: str) -> dict[str, Any]:
    """Authenticate, decrypt and parse a backup file.

    :class:`DecryptionError` when the passphrase is wrong or any byte was modified (one
    opaque error); :class:`CorruptStoreError` for a malformed header or payload.
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header, ciphertext = parse_header(data)
    key = derive_backup_key(passphrase, header)
    try:
        plaintext = AESGCM(key).decrypt(header.nonce, ciphertext, header.to_bytes())
    except InvalidTag:
        raise DecryptionError(
            "cannot decrypt the backup: the passphrase is wrong or the file was modified",
            hint="check the passphrase; nothing was restored",
        ) from None
    return parse_payload(plaintext)


def serialize_payload(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def parse_payload(plaintext: bytes) -> dict[str, Any]:
    """Check the payload's structure. Messages never quote the plaintext."""
    try:
        doc = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CorruptStoreError("the decrypted backup is not valid UTF-8 JSON") from None
    bad = CorruptStoreError("the decrypted backup has an unexpected structure")
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise bad
    tokens = doc.get("tokens")
    if not isinstance(tokens, list):
        raise bad
    names = [entry.get("name") for entry in tokens if isinstance(entry, dict)]
    if len(set(names)) != len(names):
        raise bad
    for entry in tokens:
        if not isinstance(entry, dict) or not set(entry) <= _TOKEN_FIELDS:
            raise bad
        if not isinstance(entry.get("name"), str) or not isinstance(entry.get("value"), str):
            raise bad
        if entry.get("previous") is not None and not isinstance(entry["previous"], str):
            raise bad
        for key in _TIME_FIELDS:
            if entry.get(key) is not None:
                try:
                    parse_time(entry[key])
                except (TypeError, ValueError):
                    raise bad from None
    return doc


def parse_time(text: str) -> datetime:
    """A payload time: ISO 8601 with a UTC offset (``Z`` too); :class:`ValueError` for
    anything else, a time without an offset included."""
    if not isinstance(text, str):
        raise TypeError("a time must be text")
    moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    if moment.tzinfo is None:
        raise ValueError("a time without a UTC offset")
    return moment
