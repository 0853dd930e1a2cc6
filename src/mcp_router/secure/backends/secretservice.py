"""The ``secret-service`` backend: the freedesktop.org Secret Service over D-Bus.

Where tokens live: the provider's *default* collection (gnome-keyring's "login", KWallet,
KeePassXC...), one item per token, labelled ``MCP Router: <name>`` and carrying the
attributes ``{"application": "mcp-router", "token_name": "<name>"}``. Those attributes are
what ``secret-tool lookup application mcp-router token_name <name>`` finds, so any libsecret
tool can read and write the same items.

Built on ``secretstorage`` (items and the Diffie-Hellman transport encryption of secrets)
over ``jeepney`` (the D-Bus connection, see :mod:`.dbusio`). Two things are added here:

* **Bounded time.** Every D-Bus call has a deadline (``secret_service_timeout`` seconds,
  default 5). A bus or provider that does not answer is reported as
  :class:`StorageUnavailableError`, never a hang. An unlock prompt waits at most
  ``secret_service_unlock_timeout`` seconds (default 60) for the person to answer.
* **Few round trips.** One connection per backend, reused by ``probe`` and every operation;
  items are found with one ``SearchItems`` on the default collection's alias path (no alias
  lookup); a read is then ``OpenSession`` (once per connection) and ``GetSecret``, a
  write ``SetSecret`` or ``CreateItem``; ``list`` sends all its property reads at once and
  then collects the replies.

A locked collection is unlocked through the provider's prompt only where a prompt can be
shown (a graphical session: ``DISPLAY`` or ``WAYLAND_DISPLAY``); elsewhere the operation
fails at once with :class:`StoreLockedError` naming the fix.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from jeepney import (
    DBusErrorResponse,
    MatchRule,
    message_bus,
)
from secretstorage.exceptions import (
    ItemNotFoundException,
    LockedException,
    SecretServiceNotAvailableException,
)

from mcp_router.errors import (
    AccessDeniedError,
    CorruptStoreError,
    StorageUnavailableError,
    StoreLockedError,
    TokenNotFoundError,
)
from mcp_router.secure.backends.dbusio import (
    BoundedConnection,
    connect,
    get_property_many,
    name_owner,
)
from mcp_router.secure.environment import prompt_possible, session_bus_address
from mcp_router.secure.store import Backend, ProbeResult, StoreSettings, TokenInfo
from mcp_router.secure.validation import is_valid_name

__all__ = [
    "APPLICATION",
    "BUS_NAME",
    "DEFAULT_COLLECTION",
    "SecretServiceBackend",
    "attributes_for",
    "create",
    "label_for",
    "prompt_possible",
    "session_bus_address",
]

APPLICATION = "mcp-router"
BUS_NAME = "org.freedesktop.secrets"
SERVICE_PATH = "/org/freedesktop/secrets"
DEFAULT_COLLECTION = "/org/freedesktop/secrets/aliases/default"
_SS = "org.freedesktop.Secret."
_IS_LOCKED = _SS + "Error.IsLocked"
_ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"
_VANISHED = ("NoSuchObject", "UnknownObject", "UnknownMethod")

DEFAULT_TIMEOUT = 5.0
DEFAULT_UNLOCK_TIMEOUT = 60.0

_START_HINT = (
    "start a Secret Service provider (e.g. 'systemctl --user start gnome-keyring-daemon'), "
    "or use the encrypted file: --backend file"
)
_UNLOCK_HINT = (
    "unlock the default keyring in your desktop session (e.g. Seahorse, 'Passwords and "
    "Keys') and retry, or use the encrypted file: --backend file"
)

T = TypeVar("T")


def label_for(name: str) -> str:
    """The item label other tools show for token ``name``."""
    return f"MCP Router: {name}"


def attributes_for(name: str) -> dict[str, str]:
    """The lookup attributes of token ``name`` (what ``secret-tool lookup`` matches)."""
    return {"application": APPLICATION, "token_name": name}


def _error_name(exc: DBusErrorResponse) -> str:
    return str(exc.name or "")


class SecretServiceBackend(Backend):
    """Tokens as items of the Secret Service default collection."""

    name = "secret-service"

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        unlock_timeout: float = DEFAULT_UNLOCK_TIMEOUT,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.timeout = timeout
        self.unlock_timeout = unlock_timeout
        self._environ = environ
        self._conn: BoundedConnection | None = None
        self._session: Any = None
        self._guard = threading.RLock()

    @property
    def address(self) -> str | None:
        return session_bus_address(self._environ)

    def describe(self) -> str:
        return f"Secret Service default collection (session bus {self.address or 'unset'})"

    # -- connection -------------------------------------------------------------------
    def connection(self) -> BoundedConnection:
        """The backend's one D-Bus connection, opened on first use."""
        if self._conn is None:
            address = self.address
            if not address:
                raise StorageUnavailableError(
                    "no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set and "
                    "$XDG_RUNTIME_DIR/bus does not exist",
                    hint=_START_HINT,
                )
            self._conn = connect(address, self.timeout)
            weakref.finalize(self, self._conn.close)
        return self._conn

    def close(self) -> None:
        with self._guard:
            if self._conn is not None:
                with contextlib.suppress(OSError):
                    self._conn.close()
            self._conn = None
            self._session = None

    def _open_session(self) -> Any:
        if self._session is None:
            from secretstorage.util import open_session

            self._session = open_session(self.connection())
        return self._session

    def _call(self, path: str, interface: str, method: str, signature: str | None,
              *body: Any) -> Any:
        from secretstorage.util import DBusAddressWrapper

        wrapper = DBusAddressWrapper(path, interface, self.connection())
        return wrapper.call(method, signature, *body)

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Hold the connection lock and turn library errors into ours."""
        with self._guard:
            try:
                yield
            except TimeoutError as exc:
                self.close()  # a late reply must not be taken for the next call's
                raise StorageUnavailableError(
                    f"the Secret Service did not answer within {self.timeout:g} s",
                    hint="check that the provider (e.g. gnome-keyring-daemon) is running "
                    "and responsive: mcp-router token doctor",
                ) from exc
            except SecretServiceNotAvailableException as exc:
                raise StorageUnavailableError(
                    "no Secret Service provider on the session bus "
                    f"({BUS_NAME} is not running and cannot be started)",
                    hint=_START_HINT,
                ) from exc
            except LockedException as exc:
                raise StoreLockedError(
                    "the Secret Service default collection is locked", hint=_UNLOCK_HINT
                ) from exc
            except DBusErrorResponse as exc:
                raise self._from_dbus_error(exc) from exc
            except (ConnectionError, OSError) as exc:
                self.close()
                raise StorageUnavailableError(
                    f"lost the connection to the D-Bus session bus: {exc.strerror or exc}",
                    hint="check that the session's dbus-daemon is running",
                ) from exc

    @staticmethod
    def _from_dbus_error(exc: DBusErrorResponse) -> Exception:
        name = _error_name(exc)
        if name == _IS_LOCKED:
            return StoreLockedError(
                "the Secret Service default collection is locked", hint=_UNLOCK_HINT
            )
        if name == _ACCESS_DENIED:
            return AccessDeniedError("the Secret Service refused access",
                                     hint="check the provider's access rules")
        # The error name only: a provider's message text is not ours to echo.
        return StorageUnavailableError(f"the Secret Service failed the request ({name})")

    def provider(self) -> str | None:
        """Who provides the Secret Service here (for ``doctor``); None when nobody can.

        E.g. ``"gnome-keyring-daemon (pid 1234)"``, or ``"activatable (not running)"`` when
        D-Bus would start one on first use.
        """
        with self._translated():
            return name_owner(self.connection(), BUS_NAME)

    # -- the default collection -------------------------------------------------------
    def collection_locked(self) -> bool:
        """Whether the default collection is locked (one D-Bus round trip)."""
        from secretstorage.util import DBusAddressWrapper

        collection = DBusAddressWrapper(DEFAULT_COLLECTION, _SS + "Collection",
                                        self.connection())
        return bool(collection.get_property("Locked"))

    def _search(self, attributes: dict[str, str]) -> list[str]:
        try:
            (paths,) = self._call(DEFAULT_COLLECTION, _SS + "Collection", "SearchItems",
                                  "a{ss}", attributes)
        except ItemNotFoundException as exc:
            raise StorageUnavailableError(
                "the Secret Service has no default collection",
                hint="create a keyring and make it the default (e.g. in Seahorse, "
                "'Passwords and Keys'), or use --backend file",
            ) from exc
        return sorted(str(p) for p in paths)

    def _unlocked(self, operation: Callable[[], T]) -> T:
        """Run ``operation``; if the collection is locked, unlock it (if possible) and retry."""
        try:
            return operation()
        except LockedException:
            pass
        except DBusErrorResponse as exc:
            if _error_name(exc) != _IS_LOCKED:
                raise
        self.unlock()
        return operation()

    def unlock(self) -> None:
        """Unlock the default collection through the provider's prompt, or raise."""
        if not prompt_possible(self._environ):
            raise StoreLockedError(
                "the Secret Service default collection is locked and no unlock prompt can "
                "be shown here (no graphical session)",
                hint=_UNLOCK_HINT,
            )
        _, prompt = self._call(SERVICE_PATH, _SS + "Service", "Unlock", "ao",
                               [DEFAULT_COLLECTION])
        if prompt != "/" and self._run_prompt(prompt):
            raise StoreLockedError("unlocking the Secret Service default collection was "
                                   "cancelled", hint=_UNLOCK_HINT)

    def _run_prompt(self, prompt: str) -> bool:
        """Show a provider prompt and wait (bounded) for it; True when dismissed."""
        conn = self.connection()
        rule = MatchRule(type="signal", interface=_SS + "Prompt", member="Completed",
                         path=prompt)
        # Some providers broadcast Completed instead of sending it to us: subscribe.
        conn.send_and_get_reply(message_bus.AddMatch(rule))
        with conn.filter(rule) as signals:
            self._call(prompt, _SS + "Prompt", "Prompt", "s", "")
            try:
                message = conn.recv_until_filtered(signals, timeout=self.unlock_timeout)
            except TimeoutError:
                with contextlib.suppress(Exception):
                    self._call(prompt, _SS + "Prompt", "Dismiss", "")
                raise StoreLockedError(
                    f"no answer to the unlock prompt within {self.unlock_timeout:g} s",
                    hint=_UNLOCK_HINT,
                ) from None
        dismissed, _ = message.body
        return bool(dismissed)

    # -- Backend ----------------------------------------------------------------------
    def collection_state(self) -> str:
        """``"unlocked"``, ``"locked"`` or ``"missing"`` (no default collection).

        Raises :class:`StorageUnavailableError` when there is no bus or provider, or it
        does not answer in time.
        """
        with self._translated():
            try:
                return "locked" if self.collection_locked() else "unlocked"
            except ItemNotFoundException:
                return "missing"

    def probe(self) -> ProbeResult:
        """One connection and one call: is there a provider, a default collection, unlocked?"""
        try:
            state = self.collection_state()
        except (StorageUnavailableError, StoreLockedError, AccessDeniedError) as exc:
            return ProbeResult(False, exc.message)
        if state == "missing":
            return ProbeResult(False, "the Secret Service has no default collection")
        if state == "unlocked":
            return ProbeResult(True, "the Secret Service default collection is unlocked")
        if prompt_possible(self._environ):
            return ProbeResult(True, "the Secret Service default collection is locked; the "
                               "provider will ask to unlock it")
        return ProbeResult(False, "the Secret Service default collection is locked and no "
                           "unlock prompt can be shown here (no graphical session)")

    def store(self, name: str, token: str) -> None:
        secret = token.encode("utf-8")
        with self._translated():
            paths = self._search(attributes_for(name))
            if paths:
                # Keep the existing item (and any extra attributes another tool set).
                self._unlocked(lambda: self._call(paths[0], _SS + "Item", "SetSecret",
                                                  "(oayays)", self._wire_secret(secret)))
            else:
                self._unlocked(lambda: self._create_item(name, secret))

    def _create_item(self, name: str, secret: bytes) -> None:
        properties = {
            _SS + "Item.Label": ("s", label_for(name)),
            _SS + "Item.Attributes": ("a{ss}", attributes_for(name)),
        }
        _, prompt = self._call(
            DEFAULT_COLLECTION, _SS + "Collection", "CreateItem", "a{sv}(oayays)b",
            properties, self._wire_secret(secret), True,
        )
        if prompt != "/" and self._run_prompt(prompt):
            raise StoreLockedError("storing in the Secret Service was cancelled at its prompt")

    # The item methods are called directly rather than through secretstorage's ``Item``,
    # which spends two extra round trips per call (it reads the label to check that the
    # item exists, and ``Locked`` before each secret): a locked item answers ``IsLocked``
    # and a deleted one ``UnknownObject`` anyway, and both are handled.
    def _wire_secret(self, secret: bytes) -> tuple[str, bytes, bytes, str]:
        """``secret`` as the Secret Service's ``(session, parameters, value, type)``."""
        from mcp_router.secure.encfile.transport import cbc_encrypt

        session = self._open_session()
        if not session.encrypted:
            return (session.object_path, b"", secret, "text/plain")
        iv, ciphertext = cbc_encrypt(session.aes_key, secret)
        return (session.object_path, iv, ciphertext, "text/plain")

    def _get_secret(self, path: str) -> bytes:
        from mcp_router.secure.encfile.transport import cbc_decrypt

        session = self._open_session()
        ((_, parameters, value, _),) = self._call(path, _SS + "Item", "GetSecret", "o",
                                                  session.object_path)
        if not session.encrypted:
            return bytes(value)
        return cbc_decrypt(session.aes_key, bytes(parameters), bytes(value))

    def retrieve(self, name: str) -> str:
        with self._translated():
            paths = self._search(attributes_for(name))
            if not paths:
                raise TokenNotFoundError(name, backend=self.name)
            try:
                secret = self._unlocked(lambda: self._get_secret(paths[0]))
            except ItemNotFoundException:  # deleted between the search and the read
                raise TokenNotFoundError(name, backend=self.name) from None
        try:
            return bytes(secret).decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptStoreError(
                f"the Secret Service item for '{name}' does not hold UTF-8 text",
                hint=f"store it again: mcp-router token set --name {name} --force",
            ) from None

    def contains(self, name: str) -> bool:
        with self._translated():
            return bool(self._search(attributes_for(name)))

    def delete(self, name: str) -> None:
        with self._translated():
            paths = self._search(attributes_for(name))
            if not paths:
                raise TokenNotFoundError(name, backend=self.name)
            for path in paths:  # duplicates made by other tools go too
                self._unlocked(lambda p=path: self._delete_item(p))

    def _delete_item(self, path: str) -> None:
        (prompt,) = self._call(path, _SS + "Item", "Delete", "")
        if prompt != "/" and self._run_prompt(prompt):
            raise StoreLockedError("deleting from the Secret Service was cancelled")

    def repair(self, name: str) -> list[str]:
        """Give items of ``name`` the spec's label (e.g. ones another tool stored)."""
        from secretstorage.util import DBusAddressWrapper

        fixes = []
        with self._translated():
            for path in self._search(attributes_for(name)):
                item = DBusAddressWrapper(path, _SS + "Item", self.connection())
                if item.get_property("Label") != label_for(name):
                    self._unlocked(lambda i=item: i.set_property("Label", "s", label_for(name)))
                    fixes.append(f"{name}: Secret Service label set to '{label_for(name)}'")
        return fixes

    def list(self) -> list[TokenInfo]:
        with self._translated():
            paths = self._search({"application": APPLICATION})
            attributes = get_property_many(self.connection(), paths, BUS_NAME,
                                           _SS + "Item", "Attributes", self.timeout,
                                           vanished=_VANISHED)
        names = {attrs.get("token_name", "") for attrs in attributes}
        # Items another tool made under a name mcp-router cannot address are left out.
        return [TokenInfo(name=n, backend=self.name) for n in sorted(names) if is_valid_name(n)]


def create(settings: StoreSettings) -> SecretServiceBackend:
    options = settings.options
    return SecretServiceBackend(
        timeout=float(options.get("secret_service_timeout", DEFAULT_TIMEOUT)),
        unlock_timeout=float(options.get("secret_service_unlock_timeout",
                                         DEFAULT_UNLOCK_TIMEOUT)),
    )
