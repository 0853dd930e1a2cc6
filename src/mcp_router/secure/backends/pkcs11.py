"""The ``pkcs11`` backend: tokens sealed by an AES key that never leaves an HSM.

Object model (what is created on the PKCS#11 token)
    * One AES-256 secret key, generated inside the HSM by ``C_GenerateKey``:
      ``CKA_LABEL "mcp-router token key"``, a random 16-byte ``CKA_ID``, ``CKA_TOKEN``,
      ``CKA_PRIVATE``, ``CKA_SENSITIVE`` true, ``CKA_EXTRACTABLE`` false, allowed to
      encrypt and decrypt only (no wrap, unwrap, sign, verify or derive). It is created on
      the first write. Its value can never be read out, not even by a logged-in user.
    * One data object per stored token: ``CKO_DATA`` with ``CKA_APPLICATION "mcp-router"``,
      ``CKA_LABEL`` = the token name, ``CKA_TOKEN`` and ``CKA_PRIVATE`` true, and as
      ``CKA_VALUE`` the token sealed with AES-GCM by that key (layout in :class:`Sealed`;
      the token name is part of the associated data, so a sealed value moved to another
      name does not decrypt).

Threat model
    Nothing of a token is in the config directory: it holds only the metadata index
    (names and times). On the HSM, the value is readable only by a session logged in with
    the user PIN, and even then only as ciphertext: the plaintext needs a decryption by the
    HSM itself with a key that cannot be exported. A stolen config directory, a stolen
    backup of the HSM's data objects, or (for SoftHSM2) a stolen token directory without
    the PIN reveals no token. What this does not protect against: code running as the user
    while the HSM is attached and the PIN is available (it can ask the HSM to decrypt, as
    mcp-router does), and a weak PIN on a software token whose files were copied (SoftHSM2
    encrypts them under a key derived from the PIN, which can be guessed offline).

Why encrypt instead of storing the value in a private data object directly: a data
object's ``CKA_VALUE`` is returned to any logged-in session and copied by token backup and
migration tools; sealing it with a non-extractable key adds a second factor that stays in
the device, gives HSMs that audit key usage an entry for every decryption, and binds each
value to its name. The cost is one ``C_Decrypt`` per read.

Writes never modify an object in place (some HSMs, e.g. YubiHSM 2, cannot): an overwrite
creates the new object, then destroys the old one. Each sealed value carries a generation
number; if a crash leaves both, readers take the highest generation and the next write
removes the rest.

The PIN comes from ``$MCP_ROUTER_PKCS11_PIN``, else from the token named by
``pkcs11_pin_secure_key`` in the platform's default store (``auto``: never this HSM), else
from a hidden prompt (:attr:`StoreSettings.prompt`: the CLI asks when a person is at a
terminal). It is never logged or put in a message; messages say only where it came from.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar, cast

from mcp_router.errors import (
    ConfigError,
    CorruptStoreError,
    DecryptionError,
    MCPRouterError,
    StorageUnavailableError,
    StoreLockedError,
    TokenNotFoundError,
)
from mcp_router.secure.backends.pkcs11_session import (
    PIN_ENV,
    Pkcs11Config,
    connection,
    describe_token,
    pkcs11_errors,
)
from mcp_router.secure.store import Backend, ProbeResult, StoreSettings, TokenInfo

if TYPE_CHECKING:  # pragma: no cover
    import pkcs11
    from pkcs11.types import DecryptMixin, EncryptMixin

    class AesKey(pkcs11.SecretKey, EncryptMixin, DecryptMixin):
        """The AES key objects python-pkcs11 returns (its runtime class mixes these in)."""

__all__ = ["APPLICATION", "KEY_LABEL", "PIN_ENV", "Pkcs11Backend", "Sealed", "create"]

APPLICATION = "mcp-router"
KEY_LABEL = "mcp-router token key"
_VERSION = 1
_NONCE_BYTES = 12
_TAG_BITS = 128
_AAD_CONTEXT = b"mcp-router/pkcs11/v1\x00"

T = TypeVar("T")


@dataclass(frozen=True)
class Sealed:
    """A token value as stored in ``CKA_VALUE``.

    Layout: ``version (1 byte, = 1) | key id length n (1 byte) | key id (n bytes) |
    generation (8 bytes, big-endian) | nonce (12 bytes) | AES-GCM ciphertext and 16-byte
    tag``. The associated data is ``"mcp-router/pkcs11/v1" NUL | everything before the
    ciphertext | token name (UTF-8)``.
    """

    key_id: bytes
    generation: int
    nonce: bytes
    ciphertext: bytes

    def header(self) -> bytes:
        return (bytes([_VERSION, len(self.key_id)]) + self.key_id
                + struct.pack(">Q", self.generation) + self.nonce)

    def to_bytes(self) -> bytes:
        return self.header() + self.ciphertext

    def aad(self, name: str) -> bytes:
        return _AAD_CONTEXT + self.header() + name.encode("utf-8")

    @classmethod
    def parse(cls, data: bytes, name: str) -> Sealed:
        if len(data) < 2 or data[0] != _VERSION:
            raise CorruptStoreError(
                f"the HSM object of token '{name}' is not in a format this version reads",
                hint="upgrade mcp-router, or delete and store the token again",
            )
        n = data[1]
        end = 2 + n + 8 + _NONCE_BYTES
        if n == 0 or len(data) < end + _TAG_BITS // 8:
            raise CorruptStoreError(f"the HSM object of token '{name}' is truncated",
                                    hint="delete and store the token again")
        (generation,) = struct.unpack(">Q", data[2 + n:2 + n + 8])
        return cls(data[2:2 + n], generation, data[end - _NONCE_BYTES:end], data[end:])


class Pkcs11Backend(Backend):
    """Tokens as sealed ``CKO_DATA`` objects on a PKCS#11 token (see the module docs)."""

    name = "pkcs11"

    def __init__(self, settings: StoreSettings) -> None:
        self._settings = settings
        self._config: Pkcs11Config | None = None
        self._config_error: ConfigError | None = None
        try:
            self._config = Pkcs11Config.from_options(settings.options)
        except ConfigError as exc:  # reported by probe() and by every operation
            self._config_error = exc

    @property
    def config(self) -> Pkcs11Config:
        if self._config is None:
            assert self._config_error is not None
            raise self._config_error
        return self._config

    def describe(self) -> str:
        if self._config is None:
            return "PKCS#11 HSM (not configured)"
        return f"PKCS#11 {self._config.selection()} via {self._config.module}"

    def probe(self) -> ProbeResult:
        """Module loads, token found, initialised, PIN not locked, AES-GCM supported.

        Does not log in, so it never needs the PIN.
        """
        try:
            conn = connection(self.config)
            with conn.lock, pkcs11_errors(f"HSM token '{conn.label}'"):
                mechanisms = conn.token.slot.get_mechanisms()
        except MCPRouterError as exc:
            return ProbeResult(False, str(exc))
        from pkcs11 import Mechanism

        missing = [m.name for m in (Mechanism.AES_KEY_GEN, Mechanism.AES_GCM)
                   if m not in mechanisms]
        what = describe_token(conn.token)
        if missing:
            return ProbeResult(False, f"{what} does not support {', '.join(missing)}, "
                               "which this backend needs")
        return ProbeResult(True, f"{what} is ready; user PIN {self._pin_origin()}")

    def _pin_origin(self) -> str:
        """Where the PIN will come from, without reading it (for ``doctor``)."""
        if os.environ.get(PIN_ENV):
            return f"from ${PIN_ENV}"
        if self.config.pin_secure_key:
            return f"from token '{self.config.pin_secure_key}' in the platform store"
        return f"asked at a prompt (or set {PIN_ENV})"

    # -- TokenStore -------------------------------------------------------------------
    def store(self, name: str, token: str) -> None:
        def put(session: pkcs11.Session) -> None:
            old = _objects(session, name)
            generation = 1 + max((_generation(o, name) for o in old), default=0)
            sealed = _seal(session, name, token.encode("utf-8"), generation)
            session.create_object({**_data_template(name), _attr().VALUE: sealed.to_bytes()})
            for obj in old:
                obj.destroy()

        self._run(put)

    def retrieve(self, name: str) -> str:
        def get(session: pkcs11.Session) -> str:
            found = _objects(session, name)
            if not found:
                raise TokenNotFoundError(name, backend=self.name)
            return _open(session, name, _newest(found, name)).decode("utf-8")

        return self._run(get)

    def contains(self, name: str) -> bool:
        return self._run(lambda session: bool(_objects(session, name)))

    def delete(self, name: str) -> None:
        def remove(session: pkcs11.Session) -> None:
            found = _objects(session, name)
            if not found:
                raise TokenNotFoundError(name, backend=self.name)
            for obj in found:
                obj.destroy()

        self._run(remove)

    def list(self) -> list[TokenInfo]:
        def labels(session: pkcs11.Session) -> set[str]:
            attr = _attr()
            found = session.get_objects({attr.CLASS: _cls().DATA, attr.TOKEN: True,
                                         attr.PRIVATE: True, attr.APPLICATION: APPLICATION})
            return {obj[attr.LABEL] for obj in list(found)}

        return [TokenInfo(name=n, backend=self.name)
                for n in sorted(self._run(labels)) if _is_token_name(n)]

    # -- plumbing ---------------------------------------------------------------------
    def _run(self, operation: Callable[[pkcs11.Session], T]) -> T:
        conn = connection(self.config)
        with conn.session(self._pin) as session:
            return operation(session)

    def _pin(self, label: str) -> tuple[str, str]:
        """The user PIN and where it came from (for messages; never the PIN)."""
        env = os.environ.get(PIN_ENV)
        if env:
            return env, f"${PIN_ENV}"
        if self.config.pin_secure_key:
            return self._pin_from_platform_store(self.config.pin_secure_key)
        # The application decides whether a person can answer (the CLI: a terminal and no
        # CI), so that this prompt behaves like every other prompt it shows.
        prompt = self._settings.prompt
        pin = prompt(f"User PIN for HSM token '{label}'") if prompt is not None else None
        if pin:
            return pin, "the prompt"
        raise StoreLockedError(
            f"HSM token '{label}' needs its user PIN and none was given",
            hint=f"set {PIN_ENV}, point pkcs11_pin_secure_key at a stored token holding "
            "the PIN, or run the command in a terminal",
        )

    def _pin_from_platform_store(self, key: str) -> tuple[str, str]:
        from mcp_router.secure.opener import open_store

        # The platform's default store, never this HSM: the PIN cannot unlock itself.
        store = open_store(self._settings.platform_default())
        where = f"token '{key}' in the {store.backend_name} store"
        try:
            return store.retrieve(key), where
        except TokenNotFoundError:
            raise StoreLockedError(
                f"the HSM PIN is to be read from {where}, which does not exist",
                hint=f"store the PIN there: mcp-router --backend {store.backend_name} "
                f"token set --name {key}",
            ) from None
        finally:
            store.close()


# -- helpers on an open session -----------------------------------------------------------
def _attr() -> type[pkcs11.Attribute]:
    from pkcs11 import Attribute

    return Attribute


def _cls() -> type[pkcs11.ObjectClass]:
    from pkcs11 import ObjectClass

    return ObjectClass


def _data_template(name: str) -> dict[pkcs11.Attribute, object]:
    attr = _attr()
    return {attr.CLASS: _cls().DATA, attr.TOKEN: True, attr.PRIVATE: True,
            attr.APPLICATION: APPLICATION, attr.LABEL: name}


def _objects(session: pkcs11.Session, name: str) -> list[pkcs11.Object]:
    """The private data objects holding ``name`` (normally one; see the module docs).

    Public objects are ignored: anyone can create those without the PIN.
    """
    return list(session.get_objects(_data_template(name)))


def _newest(found: list[pkcs11.Object], name: str) -> Sealed:
    sealed: list[Sealed] = []
    problem: CorruptStoreError | None = None
    for obj in found:
        try:
            sealed.append(Sealed.parse(obj[_attr().VALUE], name))
        except CorruptStoreError as exc:
            problem = exc
    if not sealed:
        assert problem is not None
        raise problem
    return max(sealed, key=lambda s: s.generation)


def _is_token_name(label: str) -> bool:
    from mcp_router.errors import InvalidTokenNameError
    from mcp_router.secure.validation import validate_name

    try:
        validate_name(label)
    except InvalidTokenNameError:
        return False
    return True


def _generation(obj: pkcs11.Object, name: str) -> int:
    try:
        return Sealed.parse(obj[_attr().VALUE], name).generation
    except CorruptStoreError:
        return 0  # unreadable leftovers are replaced by the write


def _keys(session: pkcs11.Session) -> list[AesKey]:
    from pkcs11 import KeyType

    attr = _attr()
    found = session.get_objects({attr.CLASS: _cls().SECRET_KEY, attr.KEY_TYPE: KeyType.AES,
                                 attr.TOKEN: True, attr.LABEL: KEY_LABEL})
    return cast("list[AesKey]", list(found))


def _writing_key(session: pkcs11.Session) -> AesKey:
    """The key new values are sealed with: the existing one with the lowest id (two
    processes racing on first use may each create one; every value names its key, so
    both stay usable), else a new one."""
    keys = _keys(session)
    if keys:
        return min(keys, key=lambda k: k[_attr().ID])
    return _generate_key(session)


def _generate_key(session: pkcs11.Session) -> AesKey:
    from pkcs11 import KeyType, MechanismFlag

    attr = _attr()
    key = session.generate_key(
        KeyType.AES, 256, id=os.urandom(16), label=KEY_LABEL, store=True,
        capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
        template={attr.PRIVATE: True, attr.SENSITIVE: True, attr.EXTRACTABLE: False},
    )
    if not key[attr.SENSITIVE] or key[attr.EXTRACTABLE]:
        key.destroy()
        raise StorageUnavailableError(
            "the HSM did not make the new key sensitive and non-extractable",
            hint="use a token that honours CKA_SENSITIVE and CKA_EXTRACTABLE",
        )
    return cast("AesKey", key)


def _seal(session: pkcs11.Session, name: str, plaintext: bytes, generation: int) -> Sealed:
    from pkcs11 import Mechanism
    from pkcs11.mechanisms import GCMParams

    key = _writing_key(session)
    draft = Sealed(key[_attr().ID], generation, os.urandom(_NONCE_BYTES), b"")
    params = GCMParams(draft.nonce, draft.aad(name), _TAG_BITS)
    # bytes in, bytes out (an iterator only for an iterator of chunks)
    ciphertext = cast(bytes, key.encrypt(plaintext, mechanism=Mechanism.AES_GCM,
                                         mechanism_param=params))
    return replace(draft, ciphertext=ciphertext)


def _open(session: pkcs11.Session, name: str, sealed: Sealed) -> bytes:
    from pkcs11 import Mechanism
    from pkcs11 import exceptions as p11
    from pkcs11.mechanisms import GCMParams

    key = next((k for k in _keys(session) if k[_attr().ID] == sealed.key_id), None)
    if key is None:
        raise DecryptionError(
            f"token '{name}' was sealed by an HSM key that is not on this token",
            hint="use the HSM token it was stored with, or store the token again",
        )
    params = GCMParams(sealed.nonce, sealed.aad(name), _TAG_BITS)
    try:
        return cast(bytes, key.decrypt(sealed.ciphertext, mechanism=Mechanism.AES_GCM,
                                       mechanism_param=params))
    except (p11.EncryptedDataInvalid, p11.EncryptedDataLenRange, p11.DataInvalid,
            p11.DataLenRange, p11.GeneralError, p11.FunctionFailed) as exc:
        raise DecryptionError(
            f"token '{name}' failed authentication on the HSM: it was modified or "
            "belongs to another name",
            hint=f"delete it and store it again: mcp-router token set --name {name} --force",
        ) from exc


def create(settings: StoreSettings) -> Pkcs11Backend:
    return Pkcs11Backend(settings)
