#!/usr/bin/env python3
"""Generate the backup-file test vectors in ``tests/vectors/backup-*.json`` (see the
"Backup files" section of docs/file-format.md).

Deterministic: every salt and nonce is a hash of a fixed label and every file is built
through ``backup_format._encrypt_from_parts``, so running the script again gives
byte-identical vectors; a test checks that the committed vectors are what it generates.

    python scripts/make_backup_vectors.py            # (re)write tests/vectors/backup-*.json
    python scripts/make_backup_vectors.py --check    # exit 1 if the committed vectors differ

Each vector is one JSON file with one failure mode:

    expect       success | header failure | decryption failure | payload failure
    passphrase   what the reader is given
    file         the complete file, hex
    and, when the header is valid:  log2_n  r  p  salt  nonce  key (hex)
    and, for success:               payload (the decrypted JSON document)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

from mcp_router.secure.encfile import backup_format as bf

VECTOR_DIR = Path(__file__).resolve().parent.parent / "tests" / "vectors"
PASSPHRASE = "correct horse battery staple"  # noqa: S105 - a published test vector
LOG2_N = bf.MIN_LOG2_N  # the cheapest cost a reader accepts keeps the checks fast

DOC: dict[str, Any] = {
    "created": "2026-01-02T03:04:05+00:00",
    "source_backend": "file",
    "tokens": [
        {"created": "2025-06-01T10:00:00+00:00", "last_used": "2026-01-01T09:00:00+00:00",
         "name": "gateway-token", "previous": "old-bearer-value",
         "rotated": "2025-12-01T08:00:00+00:00", "updated": "2025-12-01T08:00:00+00:00",
         "value": "s3cr3t-bearer-value"},
        {"created": None, "last_used": None, "name": "oauth-secret", "rotated": None,
         "updated": None, "value": "caf\u00e9 \u2603 line1\nline2"},
    ],
    "version": 1,
}


def _bytes(label: str, size: int) -> bytes:
    return hashlib.sha256(f"mcp-router backup vector/{label}".encode()).digest()[:size]


def _seal(label: str, plaintext: bytes, passphrase: str = PASSPHRASE,
          log2_n: int = LOG2_N) -> bytes:
    return bf._encrypt_from_parts(plaintext, passphrase, _bytes(label + "/salt", 16),
                                  _bytes(label + "/nonce", 12), log2_n=log2_n)


def _details(data: bytes, passphrase: str) -> dict[str, Any]:
    header, _ = bf.parse_header(data)
    return {"log2_n": header.log2_n, "r": header.r, "p": header.p,
            "salt": header.salt.hex(), "nonce": header.nonce.hex(),
            "key": bf.derive_backup_key(passphrase, header).hex()}


def _flip(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[offset] ^= mask
    return bytes(out)


def _set(data: bytes, offset: int, value: int) -> bytes:
    out = bytearray(data)
    out[offset] = value
    return bytes(out)


def vectors() -> dict[str, dict[str, Any]]:
    good = _seal("basic", bf.serialize_payload(DOC))
    out: dict[str, dict[str, Any]] = {}

    def add(name: str, comment: str, expect: str, data: bytes,
            passphrase: str = PASSPHRASE, payload: dict[str, Any] | None = None) -> None:
        vector: dict[str, Any] = {"comment": comment, "expect": expect,
                                  "passphrase": passphrase, "file": data.hex()}
        if expect != "header failure":
            vector.update(_details(data, passphrase))
        if payload is not None:
            vector["payload"] = payload
        out[name] = vector

    add("success-basic", "two tokens, one with a previous value and times", "success",
        good, payload=DOC)
    empty = {"created": "2026-01-02T03:04:05+00:00", "source_backend": "memory",
             "tokens": [], "version": 1}
    add("success-empty", "a store with no tokens", "success",
        _seal("empty", bf.serialize_payload(empty)), payload=empty)
    nfc = "p\u00e4ssw\u00f6rd \u00e9t\u00e9"
    add("success-nfd-passphrase", "written with an NFC passphrase, read with the same "
        "text in NFD: readers normalise to NFC", "success",
        _seal("nfd", bf.serialize_payload(empty), passphrase=nfc),
        passphrase=unicodedata.normalize("NFD", nfc), payload=empty)
    add("success-default-cost", "the writer's default cost, log2 N = 17", "success",
        _seal("default", bf.serialize_payload(empty), log2_n=bf.DEFAULT_LOG2_N),
        payload=empty)

    add("auth-wrong-passphrase", "the passphrase differs", "decryption failure", good,
        passphrase=PASSPHRASE + "!")
    for name, offset in (("salt", 16), ("nonce", 32), ("ciphertext", bf.HEADER_SIZE),
                         ("tag", len(good) - 1)):
        add(f"auth-flipped-{name}-bit", f"one bit of the {name} flipped",
            "decryption failure", _flip(good, offset))
    add("auth-log2n-changed", "log2 N changed within the allowed range (the header is "
        "associated data)", "decryption failure", _set(good, 12, LOG2_N + 1))
    add("auth-truncated-1", "the last byte removed", "decryption failure", good[:-1])
    add("auth-appended-byte", "one byte appended", "decryption failure", good + b"\x00")

    header_cases = {
        "bad-magic": (_set(good, 0, ord("X")), "magic is not MCPRBKUP"),
        "version-2": (_set(good, 8, 2), "unknown format version"),
        "kdf-2": (_set(good, 9, 2), "unknown KDF id"),
        "flags-1": (_set(good, 10, 1), "a flag bit set"),
        "reserved-1": (_set(good, 11, 1), "first reserved byte not zero"),
        "reserved2-1": (_set(good, 15, 1), "second reserved byte not zero"),
        "log2n-14": (_set(good, 12, 14), "scrypt cost below the minimum"),
        "log2n-21": (_set(good, 12, 21), "scrypt cost above the maximum"),
        "r-4": (_set(good, 13, 4), "scrypt r other than 8"),
        "p-0": (_set(good, 14, 0), "scrypt p of 0"),
        "p-17": (_set(good, 14, 17), "scrypt p above 16"),
        "truncated-59": (good[:59], "shorter than header + tag"),
        "empty": (b"", "an empty file"),
    }
    for name, (data, comment) in header_cases.items():
        add(f"header-{name}", comment, "header failure", data)

    payload_cases = {
        "not-json": (b"not json", "the plaintext is not JSON"),
        "version-2": (b'{"tokens":[],"version":2}', "payload version 2"),
        "duplicate-name": (b'{"tokens":[{"name":"a","value":"x"},{"name":"a","value":"y"}],'
                           b'"version":1}', "one name twice"),
        "extra-field": (b'{"tokens":[{"name":"a","secret":"x","value":"x"}],"version":1}',
                        "an unknown token field"),
        "value-number": (b'{"tokens":[{"name":"a","value":1}],"version":1}',
                         "a value that is not text"),
        "bad-time": (b'{"tokens":[{"created":"yesterday","name":"a","value":"x"}],'
                     b'"version":1}', "a time that is not ISO 8601"),
        "time-without-offset": (b'{"tokens":[{"created":"2026-01-02T03:04:05","name":"a",'
                                b'"value":"x"}],"version":1}', "a time without a UTC offset"),
    }
    for name, (plaintext, comment) in payload_cases.items():
        add(f"payload-{name}", comment, "payload failure", _seal(name, plaintext))
    return {f"backup-{name}.json": vector for name, vector in out.items()}


def render(vector: dict[str, Any]) -> str:
    return json.dumps(vector, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed vectors instead of writing")
    args = parser.parse_args()
    wanted = {name: render(v) for name, v in vectors().items()}
    if args.check:
        stale = [n for n, text in wanted.items()
                 if not (VECTOR_DIR / n).is_file() or (VECTOR_DIR / n).read_text() != text]
        extra = {p.name for p in VECTOR_DIR.glob("backup-*.json")} - set(wanted)
        for name in sorted(stale) + sorted(extra):
            print(f"differs: {name}", file=sys.stderr)
        return 1 if stale or extra else 0
    VECTOR_DIR.mkdir(parents=True, exist_ok=True)
    for old in VECTOR_DIR.glob("backup-*.json"):
        old.unlink()
    for name, text in wanted.items():
        (VECTOR_DIR / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(wanted)} vectors to {VECTOR_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
