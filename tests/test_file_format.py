"""The ``tokens.enc`` format (docs/file-format.md): the test vectors, checked by the
project's code and by an independent implementation written from the spec, and property
tests for parsing, canonical encoding and malleability."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import struct
import sys
from pathlib import Path
from typing import Any

import pytest
from Crypto.Cipher import AES
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mcp_router.errors import (
    CorruptStoreError,
    DecryptionError,
    StorageUnavailableError,
    StoreLockedError,
)
from mcp_router.secure.encfile import crypto, machine
from mcp_router.secure.encfile.format import (
    HEADER_SIZE,
    MAGIC,
    Header,
    parse_file,
    parse_payload,
    serialize_payload,
)

ROOT = Path(__file__).resolve().parent.parent
VECTOR_DIR = ROOT / "tests" / "vectors"
VECTORS: dict[str, dict[str, Any]] = {
    p.name[len("tokens-"):-len(".json")]: json.loads(p.read_text(encoding="utf-8"))
    for p in sorted(VECTOR_DIR.glob("tokens-*.json"))
}
EXPECTS = ("success", "header failure", "decryption failure", "payload failure")
FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def by_expect(expect: str) -> list[str]:
    return [name for name, v in VECTORS.items() if v["expect"] == expect]


@functools.cache
def material(machine_id: str, user_id: str, passphrase: str | None) -> crypto.KeyMaterial:
    """One KeyMaterial per identity, so its derived keys are cached across tests."""
    return crypto.KeyMaterial(machine_id, user_id, passphrase)


def reader_material(v: dict[str, Any]) -> crypto.KeyMaterial:
    return material(v["machine_id"], v["user_id"], v["passphrase"])


def vector_header(v: dict[str, Any]) -> Header:
    return Header(iterations=v["iterations"], salt=bytes.fromhex(v["salt"]),
                  nonce=bytes.fromhex(v["nonce"]), passphrase=v["passphrase"] is not None)


# -- the vector set itself ----------------------------------------------------------------
def test_vector_set_covers_every_outcome() -> None:
    assert {v["expect"] for v in VECTORS.values()} == set(EXPECTS)
    assert len(by_expect("success")) >= 5
    assert all(v["iterations"] >= 100_000 for v in VECTORS.values() if "iterations" in v)


def test_committed_vectors_are_what_the_script_generates() -> None:
    spec = importlib.util.spec_from_file_location("make_vectors", ROOT / "scripts" /
                                                  "make_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generated = module.build()
    assert sorted(generated) == sorted(VECTORS)
    for name, vector in generated.items():
        committed = (VECTOR_DIR / f"tokens-{name}.json").read_text(encoding="utf-8")
        assert module.render(vector) == committed, name


def test_spec_worked_example_matches_the_vector() -> None:
    doc = (ROOT / "docs" / "file-format.md").read_text(encoding="utf-8")
    v = VECTORS["success-basic"]
    data = bytes.fromhex(v["file"])
    for part in (v["key"], v["salt"], v["nonce"], data[-16:].hex(), data[44:60].hex()):
        assert part in doc


# -- the project's implementation ---------------------------------------------------------
@pytest.mark.parametrize("name", by_expect("success"))
def test_success_vector_decrypts_and_is_recreated(name: str) -> None:
    v = VECTORS[name]
    data = bytes.fromhex(v["file"])
    header, tokens = crypto.decrypt_file(data, reader_material(v))
    assert tokens == v["tokens"]
    assert header == vector_header(v)
    key = crypto.derive_key(reader_material(v), header)
    assert key.hex() == v["key"]
    assert serialize_payload(tokens).hex() == v["payload"]
    assert crypto._encrypt_from_parts(v["tokens"], key, vector_header(v)) == data


@pytest.mark.parametrize("name", by_expect("header failure"))
def test_header_failure_vector(name: str) -> None:
    data = bytes.fromhex(VECTORS[name]["file"])
    with pytest.raises(CorruptStoreError) as info:
        parse_file(data)
    assert not isinstance(info.value, DecryptionError)
    with pytest.raises(CorruptStoreError) as info:
        crypto.decrypt_file(data, reader_material(VECTORS[name]))
    assert not isinstance(info.value, DecryptionError)


@pytest.mark.parametrize("name", by_expect("decryption failure"))
def test_decryption_failure_vector(name: str) -> None:
    v = VECTORS[name]
    parse_file(bytes.fromhex(v["file"]))  # the header itself is acceptable
    with pytest.raises(DecryptionError):
        crypto.decrypt_file(bytes.fromhex(v["file"]), reader_material(v))


@pytest.mark.parametrize("name", by_expect("payload failure"))
def test_payload_failure_vector(name: str) -> None:
    v = VECTORS[name]
    data = bytes.fromhex(v["file"])
    with pytest.raises(CorruptStoreError) as info:
        crypto.decrypt_file(data, reader_material(v))
    assert not isinstance(info.value, DecryptionError)
    assert "payload" in info.value.message
    payload = bytes.fromhex(v["payload"])
    assert crypto._seal(payload, bytes.fromhex(v["key"]), vector_header(v)) == data
    for text in (payload.decode("utf-8", "replace"), "gateway-token"):  # never quoted
        assert text not in str(info.value)


# -- an independent implementation, from docs/file-format.md alone -----------------------
class HeaderFailure(Exception):
    pass


class AuthFailure(Exception):
    pass


class PayloadFailure(Exception):
    pass


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}


def _json_string(text: str) -> str:
    out = (_ESCAPES.get(c) or (f"\\u{ord(c):04x}" if ord(c) < 0x20 else c) for c in text)
    return '"' + "".join(out) + '"'


def independent_payload(tokens: dict[str, str]) -> bytes:
    members = ",".join(f"{_json_string(k)}:{_json_string(v)}" for k, v in sorted(tokens.items()))
    return ('{"tokens":{' + members + '},"version":1}').encode("utf-8")


@functools.cache
def independent_key(password: bytes, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password, salt, iterations, 32)


def independent_password(machine: str, user: str, passphrase: str | None) -> bytes:
    parts = [b"mcp-router/tokens.enc/v1", machine.encode("utf-8"), user.encode("utf-8")]
    if passphrase is not None:
        parts.append(passphrase.encode("utf-8"))
    return b"\x00".join(parts)


def independent_read(data: bytes, machine: str, user: str, passphrase: str | None
                     ) -> dict[str, str]:
    if len(data) < 60:
        raise HeaderFailure("short")
    magic, version, kdf, flags, reserved, iterations, salt, nonce = struct.unpack(
        ">8sBBBBI16s12s", data[:44])
    if (magic != b"MCPRTOKS" or version != 1 or kdf != 1 or flags & 0xFE or reserved
            or not 100_000 <= iterations <= 10_000_000):
        raise HeaderFailure("header")
    key = independent_key(independent_password(machine, user, passphrase if flags else None),
                          salt, iterations)
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=16)
    cipher.update(data[:44])
    try:
        payload = cipher.decrypt_and_verify(data[44:-16], data[-16:])
    except ValueError:
        raise AuthFailure("tag") from None

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in pairs}) != len(pairs):
            raise PayloadFailure("duplicate")
        return dict(pairs)

    try:
        doc = json.loads(payload.decode("utf-8"), object_pairs_hook=unique)
        tokens = doc["tokens"]
        if independent_payload(tokens) != payload:
            raise PayloadFailure("not canonical")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise PayloadFailure("malformed") from None
    return tokens


def independent_write(v: dict[str, Any]) -> bytes:
    flags = 1 if v["passphrase"] is not None else 0
    salt, nonce = bytes.fromhex(v["salt"]), bytes.fromhex(v["nonce"])
    header = struct.pack(">8sBBBBI", b"MCPRTOKS", 1, 1, flags, 0, v["iterations"]) + salt + nonce
    key = independent_key(independent_password(v["machine_id"], v["user_id"], v["passphrase"]),
                          salt, v["iterations"])
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=16)
    cipher.update(header)
    ciphertext, tag = cipher.encrypt_and_digest(independent_payload(v["tokens"]))
    return header + ciphertext + tag


_FAILURES = {"header failure": HeaderFailure, "decryption failure": AuthFailure,
             "payload failure": PayloadFailure}


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_independent_implementation_agrees(name: str) -> None:
    v = VECTORS[name]
    data = bytes.fromhex(v["file"])
    args = (v["machine_id"], v["user_id"], v["passphrase"])
    if v["expect"] == "success":
        assert independent_read(data, *args) == v["tokens"]
        assert independent_write(v) == data
    else:
        with pytest.raises(_FAILURES[v["expect"]]):
            independent_read(data, *args)


# -- key material -------------------------------------------------------------------------
def test_key_material_refuses_ambiguous_or_empty_ids() -> None:
    for mid, user in (("a\x00b", "1000"), ("abc", "10\x0000"), ("", "1000"), ("abc", "")):
        with pytest.raises(StorageUnavailableError):
            crypto.KeyMaterial(mid, user)


def test_passphrase_must_be_text_and_present() -> None:
    header = vector_header(VECTORS["success-passphrase"])
    with pytest.raises(StoreLockedError):
        crypto.derive_key(crypto.KeyMaterial("m", "1"), header)
    undecodable = b"pass\xff".decode("utf-8", "surrogateescape")  # as os.environ gives it
    with pytest.raises(StoreLockedError):
        crypto.derive_key(crypto.KeyMaterial("m", "1", undecodable), header)


def test_key_material_hides_itself_and_caches_per_salt() -> None:
    v = VECTORS["success-basic"]
    m = crypto.KeyMaterial(v["machine_id"], v["user_id"], "a-planted-passphrase")
    assert "planted" not in repr(m) and v["machine_id"] not in repr(m)
    header = vector_header(v)
    first = crypto.derive_key(m, header)
    assert crypto.derive_key(m, header) is first  # no second derivation
    m.forget()
    again = crypto.derive_key(m, header)
    assert again == first and again is not first


def test_encrypt_file_draws_a_fresh_nonce_every_time() -> None:
    v = VECTORS["success-basic"]
    header = vector_header(v)
    files = {crypto.encrypt_file(v["tokens"], reader_material(v), header) for _ in range(20)}
    nonces = {f[32:44] for f in files}
    assert len(nonces) == 20 and header.nonce not in nonces
    assert {f[16:32] for f in files} == {header.salt}  # the salt is kept


def test_header_refuses_fields_a_reader_would_reject() -> None:
    good = {"iterations": 100_000, "salt": bytes(16), "nonce": bytes(12)}
    for change in ({"iterations": 99_999}, {"iterations": 10_000_001}, {"salt": bytes(15)},
                   {"nonce": bytes(16)}, {"version": 2}, {"kdf": 0}):
        with pytest.raises(ValueError):
            Header(**{**good, **change})  # type: ignore[arg-type]


# -- properties ---------------------------------------------------------------------------
header_fields = st.tuples(
    st.sampled_from([1, 1, 1, 0, 2, 255]),  # version
    st.sampled_from([1, 1, 1, 0, 2]),  # kdf
    st.one_of(st.sampled_from([0, 1]), st.integers(0, 255)),  # flags
    st.sampled_from([0, 0, 0, 1, 128]),  # reserved
    st.one_of(st.integers(100_000, 10_000_000), st.integers(0, 2**32 - 1),
              st.sampled_from([99_999, 100_000, 10_000_000, 10_000_001])),
    st.binary(min_size=16, max_size=16),
    st.binary(min_size=12, max_size=12),
    st.binary(min_size=0, max_size=40),  # ciphertext and tag
)


@FAST
@given(header_fields, st.booleans())
def test_header_parse_then_serialize_is_identity(fields: tuple[Any, ...], magic_ok: bool
                                                 ) -> None:
    version, kdf, flags, reserved, iterations, salt, nonce, rest = fields
    magic = MAGIC if magic_ok else b"MCPRTOKX"
    data = struct.pack(">8sBBBBI", magic, version, kdf, flags, reserved, iterations)
    data += salt + nonce + rest
    valid = (magic_ok and version == 1 and kdf == 1 and flags in (0, 1) and reserved == 0
             and 100_000 <= iterations <= 10_000_000 and len(rest) >= 16)
    if not valid:
        with pytest.raises(CorruptStoreError):
            parse_file(data)
        return
    header, ciphertext = parse_file(data)
    assert header.to_bytes() + ciphertext == data
    assert header == Header(iterations=iterations, salt=salt, nonce=nonce,
                            passphrase=bool(flags))


token_maps = st.dictionaries(st.text(max_size=12), st.text(max_size=40), max_size=6)


@FAST
@given(token_maps)
def test_payload_serialize_then_parse_is_identity(tokens: dict[str, str]) -> None:
    payload = serialize_payload(tokens)
    assert payload == independent_payload(tokens)  # the spec's escaping rules, exactly
    assert parse_payload(payload) == tokens
    assert serialize_payload(parse_payload(payload)) == payload


@FAST
@given(token_maps, st.data())
def test_payload_parser_accepts_only_canonical_bytes(tokens: dict[str, str],
                                                     data: st.DataObject) -> None:
    payload = bytearray(serialize_payload(tokens))
    edit = data.draw(st.sampled_from(["insert", "delete", "replace"]))
    at = data.draw(st.integers(0, len(payload) - (0 if edit == "insert" else 1)))
    byte = data.draw(st.one_of(st.sampled_from(list(b' \n\t\r,:{}[]"\\019eE.-u')),
                               st.integers(0, 255)))
    if edit == "insert":
        payload.insert(at, byte)
    elif edit == "delete":
        del payload[at]
    else:
        assume(payload[at] != byte)
        payload[at] = byte
    try:
        parsed = parse_payload(bytes(payload))
    except CorruptStoreError:
        return
    assert serialize_payload(parsed) == bytes(payload)  # accepted means canonical


@FAST
@given(st.binary(max_size=80))
def test_payload_parser_on_arbitrary_bytes(blob: bytes) -> None:
    try:
        parsed = parse_payload(blob)
    except CorruptStoreError:
        return
    assert serialize_payload(parsed) == blob


REAL_TOKENS = {"gateway-token": "Bearer abc.def.ghi", "oauth-client-secret": "s3cr3t 🔑",
               "prod-gateway-bearer-2024": "x" * 40}
REAL_MATERIAL = crypto.KeyMaterial("0123456789abcdef0123456789abcdef", "1000")


@functools.lru_cache(maxsize=1)
def real_file() -> tuple[bytes, bytes]:
    """A file written the normal way (random salt and nonce), and its key."""
    header = crypto.new_header(100_000, passphrase=False)
    data = crypto.encrypt_file(REAL_TOKENS, REAL_MATERIAL, header)
    return data, crypto.derive_key(REAL_MATERIAL, parse_file(data)[0])


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@settings(FAST, max_examples=300)
@given(st.data())
def test_any_flipped_bit_is_rejected(data: st.DataObject) -> None:
    """Even with the right key in hand, every bit of the file is authenticated."""
    original, key = real_file()
    bit = data.draw(st.integers(0, len(original) * 8 - 1))
    tampered = _flip(original, bit)
    with pytest.raises(CorruptStoreError):  # a header failure or a DecryptionError
        header, ciphertext = parse_file(tampered)
        crypto._open(header, ciphertext, key)


@settings(FAST, max_examples=150)
@given(st.data())
def test_any_flipped_bit_fails_a_real_read(data: st.DataObject) -> None:
    """The same through decrypt_file, outside the bytes that change the derived key (whose
    flips cost a fresh derivation each; the test above covers them)."""
    original, _ = real_file()
    positions = [b for b in range(len(original) * 8) if not 10 * 8 <= b < 32 * 8]
    tampered = _flip(original, data.draw(st.sampled_from(positions)))
    with pytest.raises(CorruptStoreError):
        crypto.decrypt_file(tampered, REAL_MATERIAL)


def test_real_file_round_trips() -> None:
    original, _ = real_file()
    assert crypto.decrypt_file(original, REAL_MATERIAL)[1] == REAL_TOKENS
    assert len(original) == HEADER_SIZE + len(serialize_payload(REAL_TOKENS)) + 16


# -- machine identity (docs/file-format.md, "Where the machine id and user id come from") --
@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="the Linux sources")
@pytest.mark.parametrize(("first", "second", "expected"), [
    ("0123abcd\n", "ffff\n", "0123abcd"),
    ("  0123abcd  \n", None, "0123abcd"),
    ("", "ffff\n", "ffff"),
    (None, "ffff", "ffff"),
    ("uninitialized\n", "ffff\n", "ffff"),  # systemd's marker in not-yet-booted images
    ("uninitialized\n", None, None),
    (None, None, None),
    ("\n", "", None),
])
def test_linux_machine_id_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  first: str | None, second: str | None,
                                  expected: str | None) -> None:
    paths = (tmp_path / "etc-machine-id", tmp_path / "dbus-machine-id")
    for path, text in zip(paths, (first, second), strict=True):
        if text is not None:
            path.write_text(text, encoding="ascii")
    monkeypatch.setattr(machine, "_LINUX_PATHS", paths)
    if expected is None:
        with pytest.raises(StorageUnavailableError, match="machine id"):
            machine.machine_id()
    else:
        assert machine.machine_id() == expected


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX user id")
def test_posix_user_id_is_the_numeric_uid() -> None:
    assert machine.user_id() == str(os.getuid())
