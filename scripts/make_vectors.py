#!/usr/bin/env python3
"""Generate the ``tokens.enc`` test vectors in ``tests/vectors/`` (see docs/file-format.md).

Deterministic: every salt and nonce is a hash of a fixed label, and every file is built
through ``crypto._encrypt_from_parts`` (or ``crypto._seal`` for payloads a reader must
reject), so running the script again gives byte-identical vectors. A test checks that
the committed vectors are exactly what this script generates.

    python scripts/make_vectors.py            # (re)write tests/vectors/tokens-*.json
    python scripts/make_vectors.py --check    # exit 1 if the committed vectors differ

Each vector is one JSON file with one failure mode:

    expect       success | header failure | decryption failure | payload failure
    machine_id   user_id   passphrase (null: none)   what the reader is given
    file         the complete file, hex
    and, when the file authenticates under the reader's key:
    iterations   salt   nonce   key   payload (hex)   tokens (success only)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp_router.secure.encfile import crypto
from mcp_router.secure.encfile.format import HEADER_SIZE, MIN_ITERATIONS, Header

VECTOR_DIR = Path(__file__).resolve().parent.parent / "tests" / "vectors"

MACHINE = "0123456789abcdef0123456789abcdef"  # /etc/machine-id style
USER = "1000"
MAC_MACHINE = "6F1C2A0E-3B4D-4E5F-8A9B-C0D1E2F3A4B5"  # IOPlatformUUID style
MAC_USER = "501"
WIN_MACHINE = "f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b"  # MachineGuid style
WIN_USER = "WORKGROUP\\alice"
PASSPHRASE = "correct horse battery staple"  # noqa: S105 - a published test vector

BASIC_TOKENS = {"gateway-token": "s3cr3t-bearer-value"}

Vector = dict[str, Any]


def _bytes(label: str, size: int) -> bytes:
    return hashlib.sha256(f"mcp-router test vector/{label}".encode()).digest()[:size]


class Writer:
    """One writer's identity and file parameters; makes sealed files deterministically."""

    def __init__(self, label: str, machine_id: str, user_id: str, passphrase: str | None,
                 iterations: int = MIN_ITERATIONS) -> None:
        self.material = crypto.KeyMaterial(machine_id, user_id, passphrase)
        self.header = Header(
            iterations=iterations,
            salt=_bytes(label + "/salt", 16),
            nonce=_bytes(label + "/nonce", 12),
            passphrase=passphrase is not None,
        )
        self.key = crypto.derive_key(self.material, self.header)

    def file(self, tokens: dict[str, str]) -> bytes:
        return crypto._encrypt_from_parts(tokens, self.key, self.header)

    def sealed(self, payload: bytes) -> bytes:
        return crypto._seal(payload, self.key, self.header)

    def parts(self, payload: bytes) -> Vector:
        """The fields that let a reader re-derive the key and check the payload."""
        m = self.material
        return {
            "machine_id": m.machine_id,
            "user_id": m.user_id,
            "passphrase": m.passphrase,
            "iterations": self.header.iterations,
            "salt": self.header.salt.hex(),
            "nonce": self.header.nonce.hex(),
            "key": self.key.hex(),
            "payload": payload.hex(),
        }


def _flip(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[offset] ^= mask
    return bytes(out)


def _put(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value):]


def _success(writers: dict[str, Writer]) -> dict[str, Vector]:
    cases: dict[str, tuple[str, dict[str, str], str]] = {
        "success-basic": ("linux", BASIC_TOKENS, "one token, no passphrase"),
        "success-empty": ("linux", {}, "a store with no tokens"),
        "success-several": ("linux", {
            "z.9": "last", "prod-gateway-bearer-2024": "Bearer eyJhbGciOi.x.y",
            "a": "first", "b_2-x": "second",
        }, "several tokens: the payload lists them sorted by name"),
        "success-escapes": ("linux", {
            "escapes": "quote\" backslash\\ slash/ nl\n cr\r tab\t bs\b ff\f "
                       "nul\x00 us\x1f del\x7f",
            "unicode": "é ü 中文 😀 \u2028 \ufeff",
        }, "JSON escapes: only \" \\ and U+0000..U+001F are escaped, the rest is raw UTF-8"),
        "success-passphrase": ("mac", BASIC_TOKENS,
                               "passphrase flag set; macOS-style machine and user id"),
        "success-windows": ("windows", {"api-key": "ключ-🔑"},
                            "Windows ids, a non-ASCII passphrase, 120,000 iterations"),
    }
    out = {}
    for name, (who, tokens, comment) in cases.items():
        w = writers[who]
        out[name] = {
            "expect": "success", "comment": comment,
            **w.parts(crypto.serialize_payload(tokens)),
            "tokens": tokens, "file": w.file(tokens).hex(),
        }
    return out


def _header_failures(basic: bytes) -> dict[str, Vector]:
    cases: dict[str, tuple[bytes, str]] = {
        "header-bad-magic": (_put(basic, 0, b"MCPRTOKZ"), "last magic byte changed"),
        "header-version-0": (_put(basic, 8, b"\x00"), "format version 0"),
        "header-version-2": (_put(basic, 8, b"\x02"), "format version 2 (from the future)"),
        "header-kdf-2": (_put(basic, 9, b"\x02"), "unknown key-derivation id 2"),
        "header-flags-02": (_put(basic, 10, b"\x02"), "unknown flag bit 1"),
        "header-flags-81": (_put(basic, 10, b"\x81"), "unknown flag bit 7 (with bit 0)"),
        "header-reserved-1": (_put(basic, 11, b"\x01"), "reserved byte not zero"),
        "header-iterations-99999": (_put(basic, 12, (99_999).to_bytes(4, "big")),
                                    "one below the minimum iteration count"),
        "header-iterations-10000001": (_put(basic, 12, (10_000_001).to_bytes(4, "big")),
                                       "one above the maximum iteration count"),
        "header-iterations-0": (_put(basic, 12, bytes(4)), "zero iterations"),
        "header-truncated-59": (basic[:HEADER_SIZE + 15], "one byte short of header + tag"),
        "header-truncated-20": (basic[:20], "cut inside the header"),
        "header-empty": (b"", "an empty file"),
        "header-zero-filled": (bytes(len(basic)), "zeros of a real file's length"),
    }
    return {
        name: {"expect": "header failure", "comment": comment, "machine_id": MACHINE,
               "user_id": USER, "passphrase": None, "file": data.hex()}
        for name, (data, comment) in cases.items()
    }


def _decryption_failures(basic: bytes, mac: bytes) -> dict[str, Vector]:
    last = len(basic) - 1
    linux = (MACHINE, USER, None)
    cases: dict[str, tuple[bytes, tuple[str, str, str | None], str]] = {
        "auth-flipped-tag-bit": (_flip(basic, last), linux, "lowest bit of the tag"),
        "auth-flipped-ciphertext-bit": (_flip(basic, HEADER_SIZE, 0x80), linux,
                                        "top bit of the first ciphertext byte"),
        "auth-flipped-salt-bit": (_flip(basic, 16), linux, "a salt bit: another key"),
        "auth-flipped-nonce-bit": (_flip(basic, 43, 0x40), linux, "a nonce bit"),
        "auth-flipped-iterations-bit": (_flip(basic, 15), linux,
                                        "100,000 -> 100,001 iterations: in range, wrong key"),
        "auth-passphrase-flag-set": (_flip(basic, 10), (MACHINE, USER, PASSPHRASE),
                                     "flag set on a file written without a passphrase"),
        "auth-passphrase-flag-cleared": (_flip(mac, 10), (MAC_MACHINE, MAC_USER, None),
                                         "flag cleared on a file written with one"),
        "auth-truncated-1": (basic[:-1], linux, "last tag byte missing"),
        "auth-truncated-to-60": (basic[:HEADER_SIZE + 16], linux,
                                 "header and 16 bytes: an empty ciphertext"),
        "auth-appended-byte": (basic + b"\x00", linux, "one byte appended"),
        "auth-wrong-passphrase": (mac, (MAC_MACHINE, MAC_USER, PASSPHRASE + "!"),
                                  "passphrase differs"),
        "auth-wrong-machine-id": (basic, ("fedcba9876543210fedcba9876543210", USER, None),
                                  "the file copied to another machine"),
        "auth-wrong-user-id": (basic, (MACHINE, "1001", None),
                               "the file copied to another account"),
    }
    return {
        name: {"expect": "decryption failure", "comment": comment, "machine_id": who[0],
               "user_id": who[1], "passphrase": who[2], "file": data.hex()}
        for name, (data, who, comment) in cases.items()
    }


def _payload_failures(w: Writer) -> dict[str, Vector]:
    good = crypto.serialize_payload({"gateway-token": "v"})
    cases: dict[str, tuple[bytes, str]] = {
        "payload-whitespace": (b'{"tokens": {"gateway-token": "v"}, "version": 1}',
                               "spaces after separators"),
        "payload-trailing-newline": (good + b"\n", "canonical payload plus a newline"),
        "payload-keys-unsorted": (b'{"version":1,"tokens":{"gateway-token":"v"}}',
                                  "top-level keys out of order"),
        "payload-names-unsorted": (b'{"tokens":{"b":"2","a":"1"},"version":1}',
                                   "token names out of order"),
        "payload-duplicate-name": (b'{"tokens":{"a":"1","a":"2"},"version":1}',
                                   "one name twice"),
        "payload-escaped-non-ascii": (b'{"tokens":{"a":"caf\\u00e9"},"version":1}',
                                      "\\u00e9 where raw UTF-8 is canonical"),
        "payload-escaped-surrogate": (b'{"tokens":{"a":"\\ud800"},"version":1}',
                                      "an escaped unpaired surrogate"),
        "payload-uppercase-escape": (b'{"tokens":{"a":"\\u001F"},"version":1}',
                                     "upper-case hex in an escape"),
        "payload-invalid-utf8": (b'{"tokens":{"a":"\xff"},"version":1}', "byte 0xFF"),
        "payload-bom": (b"\xef\xbb\xbf" + good, "a UTF-8 byte-order mark"),
        "payload-not-json": (b"tokens", "not JSON"),
        "payload-version-2": (b'{"tokens":{},"version":2}', "payload version 2"),
        "payload-version-true": (b'{"tokens":{},"version":true}', "true is not 1"),
        "payload-value-number": (b'{"tokens":{"a":1},"version":1}', "a number as value"),
        "payload-extra-key": (b'{"extra":0,"tokens":{},"version":1}', "an unknown key"),
    }
    return {
        name: {"expect": "payload failure", "comment": comment, **w.parts(payload),
               "file": w.sealed(payload).hex()}
        for name, (payload, comment) in cases.items()
    }


def build() -> dict[str, Vector]:
    """Every vector, by name (the file is ``tests/vectors/tokens-<name>.json``)."""
    writers = {
        "linux": Writer("linux", MACHINE, USER, None),
        "mac": Writer("mac", MAC_MACHINE, MAC_USER, PASSPHRASE),
        "windows": Writer("windows", WIN_MACHINE, WIN_USER, "pässwörd 🔑", 120_000),
    }
    vectors = _success(writers)
    basic = bytes.fromhex(vectors["success-basic"]["file"])
    mac = bytes.fromhex(vectors["success-passphrase"]["file"])
    vectors.update(_header_failures(basic))
    vectors.update(_decryption_failures(basic, mac))
    vectors.update(_payload_failures(writers["linux"]))
    return vectors


def render(vector: Vector) -> str:
    return json.dumps(vector, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _sync(directory: Path, write: bool, report: Callable[[str], None]) -> bool:
    wanted = {f"tokens-{name}.json": render(v) for name, v in build().items()}
    present = {p.name for p in directory.glob("tokens-*.json")}
    same = True
    for stale in sorted(present - set(wanted)):
        same = False
        report(f"stale: {stale}")
        if write:
            (directory / stale).unlink()
    for filename, text in sorted(wanted.items()):
        path = directory / filename
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        same = False
        report(f"{'writing' if write else 'differs'}: {filename}")
        if write:
            path.write_text(text, encoding="utf-8")
    return same


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare; exit 1 if the committed vectors differ")
    parser.add_argument("--dir", type=Path, default=VECTOR_DIR)
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    same = _sync(args.dir, write=not args.check, report=print)
    return 1 if args.check and not same else 0


if __name__ == "__main__":
    sys.exit(main())
