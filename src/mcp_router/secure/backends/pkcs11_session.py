"""PKCS#11 plumbing for the ``pkcs11`` backend: load the module, pick the token, keep one
logged-in session per token per process, and turn PKCS#11 errors into ours.

Threading. The module is initialised with ``C_Initialize(NULL)``, which promises the
library that the application will not call it from several threads at once. Every call
therefore goes through :meth:`TokenConnection.session`, which holds one re-entrant lock per
loaded module for the whole operation. Tokens are small and operations short; serialising
them costs nothing noticeable and makes every backend instance in the process safe to use
from any thread.

Sessions. The first operation on a token opens a read/write session and logs in; the
session is cached for the life of the process (PKCS#11 login state belongs to the
application, so logging in once is what the standard expects). :func:`close_all` logs out,
closes the sessions and finalises the modules; it runs at interpreter exit, and tests call
it to make the next operation behave like a fresh process. A process forked from one that
used the HSM never touches its parent's session (a connection cached by another pid is
replaced, and never closed by the child); whether the module itself works in a forked
child depends on the module, so open stores after forking, or in a child that execs.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_router.errors import (
    AccessDeniedError,
    ConfigError,
    MCPRouterError,
    StorageUnavailableError,
    StoreLockedError,
)

if TYPE_CHECKING:  # pragma: no cover
    import pkcs11
    from pkcs11._pkcs11 import lib as Pkcs11Lib  # the class pkcs11.lib() returns

__all__ = [
    "PIN_ENV",
    "PinSource",
    "Pkcs11Config",
    "TokenConnection",
    "close_all",
    "connection",
    "describe_token",
    "find_token",
    "load_module",
    "pkcs11_errors",
    "require_pkcs11",
]

PIN_ENV = "MCP_ROUTER_PKCS11_PIN"
_OPT = "advanced.secure_storage"

#: Returns the user PIN and a description of where it came from (never the PIN itself),
#: used in error messages such as "the HSM rejected the user PIN from $MCP_ROUTER_...".
PinSource = Callable[[str], "tuple[str, str]"]


@dataclass(frozen=True)
class Pkcs11Config:
    """The backend's options from ``advanced.secure_storage``, checked."""

    module: str
    slot_index: int | None = None
    token_label: str | None = None
    pin_secure_key: str | None = None

    @classmethod
    def from_options(cls, options: Any) -> Pkcs11Config:
        module = options.get("pkcs11_module")
        if not module:
            raise ConfigError(
                f"{_OPT}.pkcs11_module is not set",
                hint="set it to your HSM vendor's PKCS#11 library, e.g. "
                "/usr/lib/softhsm/libsofthsm2.so",
            )
        if not isinstance(module, str):
            raise ConfigError(f"{_OPT}.pkcs11_module must be a path to a library file")
        label = options.get("pkcs11_token_label")
        if label is not None and (not isinstance(label, str) or not label):
            raise ConfigError(f"{_OPT}.pkcs11_token_label must be a non-empty string")
        pin_key = options.get("pkcs11_pin_secure_key")
        if pin_key is not None and (not isinstance(pin_key, str) or not pin_key):
            raise ConfigError(f"{_OPT}.pkcs11_pin_secure_key must be a token name")
        slot = _slot_index(options.get("pkcs11_slot"))
        if slot is None and label is None:
            slot = 0  # the spec's example; documented default
        return cls(os.path.expanduser(module), slot, label, pin_key)

    def selection(self) -> str:
        """How the token is chosen, for messages: "slot index 0" / "token 'x'"."""
        if self.token_label is not None and self.slot_index is not None:
            return f"token '{self.token_label}' at slot index {self.slot_index}"
        if self.token_label is not None:
            return f"token '{self.token_label}'"
        return f"slot index {self.slot_index}"


def _slot_index(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"{_OPT}.pkcs11_slot must be a slot index (0, 1, ...), not {value!r}",
            hint="it is the position in the module's list of slots with a token; "
            "or select the token with pkcs11_token_label",
        )
    return value


# -- loading the module and finding the token -------------------------------------------
def require_pkcs11() -> None:
    """Raise :class:`StorageUnavailableError` when python-pkcs11 (an optional dependency,
    the ``pkcs11`` extra) is not installed."""
    try:
        import pkcs11  # noqa: F401
    except ImportError as exc:
        raise StorageUnavailableError(
            "the pkcs11 backend needs the python-pkcs11 package, which is not installed",
            hint="install it with: pip install 'mcp-router[pkcs11]'",
        ) from exc


def load_module(path: str) -> Pkcs11Lib:
    """Load and initialise the PKCS#11 module at ``path`` (cached per process)."""
    require_pkcs11()
    import pkcs11
    from pkcs11.exceptions import PKCS11Error

    given = path
    if os.sep in path or (os.altsep and os.altsep in path):
        file = Path(path)
        if not file.exists():
            raise StorageUnavailableError(
                f"PKCS#11 module {path} does not exist",
                hint="install your HSM's PKCS#11 library (for SoftHSM2: apt-get install "
                f"softhsm2) or fix {_OPT}.pkcs11_module",
            )
        if not file.is_file():
            raise _not_a_module(given, "it is not a file")
        path = str(file.resolve())  # one handle per library, however it is spelled
    try:
        return pkcs11.lib(path)
    except PKCS11Error as exc:
        detail = str(exc).rpartition(": ")[2] or type(exc).__name__
        raise _not_a_module(given, detail) from exc


def _not_a_module(path: str, detail: str) -> StorageUnavailableError:
    return StorageUnavailableError(
        f"{path} cannot be used as a PKCS#11 module ({detail})",
        hint=f"point {_OPT}.pkcs11_module at your HSM vendor's PKCS#11 library (.so/.dylib/"
        ".dll)",
    )


def find_token(lib: Pkcs11Lib, config: Pkcs11Config) -> pkcs11.Token:
    """The token ``config`` selects, checked to be initialised and usable.

    ``pkcs11_slot`` indexes the module's full slot list (``C_GetSlotList`` without the
    token-present filter), the numbering ``pkcs11-tool --list-slots`` prints as "Slot N":
    it does not shift when a card is inserted into another reader.
    """
    with pkcs11_errors(f"the PKCS#11 module {config.module}"):
        slots = lib.get_slots(token_present=False)
        if config.slot_index is not None:
            token = _token_at(slots, config)
        else:
            token = _token_labelled(slots, config)
    _check_ready(token, config)
    return token


def _token_at(slots: list[pkcs11.Slot], config: Pkcs11Config) -> pkcs11.Token:
    from pkcs11 import SlotFlag

    index = config.slot_index
    assert index is not None
    if index >= len(slots):
        raise StorageUnavailableError(
            f"there is no slot index {index}: {config.module} has {len(slots)} slot(s)",
            hint=f"use the number 'pkcs11-tool --module {config.module} --list-slots' "
            "prints as 'Slot N' (0 is the first), or select the token with "
            "pkcs11_token_label",
        )
    if not slots[index].flags & SlotFlag.TOKEN_PRESENT:
        raise StorageUnavailableError(
            f"slot index {index} of {config.module} has no token in it",
            hint="insert or connect the token, or choose another pkcs11_slot",
        )
    token = slots[index].get_token()
    if config.token_label is not None and token.label != config.token_label:
        raise StorageUnavailableError(
            f"slot index {index} holds token '{token.label}', not '{config.token_label}'",
            hint="remove pkcs11_slot to select by label alone",
        )
    return token


def _token_labelled(slots: list[pkcs11.Slot], config: Pkcs11Config) -> pkcs11.Token:
    from pkcs11 import SlotFlag

    tokens = [s.get_token() for s in slots if s.flags & SlotFlag.TOKEN_PRESENT]
    matches = [t for t in tokens if t.label == config.token_label]
    if not matches:
        known = ", ".join(f"'{t.label}'" for t in tokens if t.label) or "none"
        raise StorageUnavailableError(
            f"no token labelled '{config.token_label}' in {config.module} "
            f"(tokens present: {known})",
            hint="check pkcs11_token_label, or that the HSM is connected",
        )
    if len(matches) > 1:
        raise StorageUnavailableError(
            f"{len(matches)} tokens are labelled '{config.token_label}'",
            hint="give them distinct labels, or select one with pkcs11_slot",
        )
    return matches[0]


def _check_ready(token: pkcs11.Token, config: Pkcs11Config) -> None:
    from pkcs11 import TokenFlag

    where = f"the token at {config.selection()}"
    if not token.flags & TokenFlag.TOKEN_INITIALIZED:
        raise StorageUnavailableError(
            f"{where} is not initialised",
            hint="initialise it first, e.g. softhsm2-util --init-token --free --label "
            "mcp-router, or with your HSM vendor's tool",
        )
    if not token.flags & TokenFlag.USER_PIN_INITIALIZED:
        raise StorageUnavailableError(
            f"{where} has no user PIN set",
            hint=f"set one with the SO PIN, e.g. pkcs11-tool --module {config.module} "
            "--login --login-type so --init-pin",
        )
    if token.flags & TokenFlag.USER_PIN_LOCKED:
        raise _pin_locked(token.label, config.module)


def _pin_locked(label: str, module: str) -> StoreLockedError:
    return StoreLockedError(
        f"the user PIN of HSM token '{label}' is locked after too many wrong attempts",
        hint="the security officer (SO) must set a new one, e.g. pkcs11-tool --module "
        f"{module} --login --login-type so --init-pin, or with your HSM vendor's tool",
    )


def describe_token(token: pkcs11.Token) -> str:
    serial = token.serial.decode("ascii", "replace").strip()
    model = " ".join(f"{token.manufacturer_id} {token.model}".split())
    return f"token '{token.label}' (serial {serial}, {model})"


# -- error translation ------------------------------------------------------------------
@contextlib.contextmanager
def pkcs11_errors(where: str) -> Iterator[None]:
    """Turn a PKCS#11 error raised inside the block into an :class:`MCPRouterError`.

    Only the class name of a foreign error is shown: it names the PKCS#11 return code and
    never carries data.
    """
    from pkcs11 import exceptions as p11

    try:
        yield
    except MCPRouterError:
        raise
    except (p11.TokenNotPresent, p11.DeviceRemoved, p11.TokenNotRecognised,
            p11.SlotIDInvalid, p11.SessionHandleInvalid, p11.SessionClosed) as exc:
        raise StorageUnavailableError(
            f"{where} is no longer reachable ({type(exc).__name__})",
            hint="reconnect the HSM and retry",
        ) from exc
    except (p11.DeviceMemory, p11.HostMemory) as exc:
        raise StorageUnavailableError(
            f"{where} is out of memory ({type(exc).__name__})",
            hint="delete tokens you no longer need, or use a token with more storage",
        ) from exc
    except p11.TokenWriteProtected as exc:
        raise AccessDeniedError(
            f"{where} is write-protected", hint="use a writable token"
        ) from exc
    except p11.PKCS11Error as exc:
        raise StorageUnavailableError(
            f"{where} failed ({type(exc).__name__})",
            hint="rerun with --debug for details; check the HSM's own logs",
        ) from exc


# -- the per-process connection cache ---------------------------------------------------
class TokenConnection:
    """One token of one module: its logged-in session, created on first use."""

    def __init__(self, lib: Pkcs11Lib, token: pkcs11.Token, lock: threading.RLock) -> None:
        self.lib = lib
        self.token = token
        self.label = token.label
        self.lock = lock
        self.pid = os.getpid()
        self._session: pkcs11.Session | None = None

    @contextlib.contextmanager
    def session(self, pin_source: PinSource) -> Iterator[pkcs11.Session]:
        """Hold the module's lock and yield a logged-in read/write session."""
        with self.lock:
            where = f"HSM token '{self.label}'"
            try:
                with pkcs11_errors(where):
                    if self._session is None:
                        self._session = self._login(pin_source)
                    yield self._session
            except StorageUnavailableError:
                self.close()  # the device may have gone away: log in again next time
                raise

    def _login(self, pin_source: PinSource) -> pkcs11.Session:
        from pkcs11 import exceptions as p11

        pin, origin = pin_source(self.label)
        try:
            # python-pkcs11 opens the session and logs in in one call; when the login
            # fails, that session stays open until the module is finalised (at exit).
            return self.token.open(rw=True, user_pin=pin)
        except p11.PinLocked as exc:
            raise _pin_locked(self.label, self.lib.so) from exc
        except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange) as exc:
            raise AccessDeniedError(
                f"HSM token '{self.label}' rejected the user PIN from {origin}",
                hint=f"check the PIN given by {origin}; every wrong attempt counts "
                "towards the HSM's lock-out",
            ) from exc
        except p11.PinExpired as exc:
            raise AccessDeniedError(
                f"the user PIN of HSM token '{self.label}' has expired",
                hint="change it with your HSM vendor's tool",
            ) from exc
        except p11.UserAlreadyLoggedIn:
            return self.token.open(rw=True)  # another session of ours is logged in

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(Exception):
                session.close()


_registry_lock = threading.Lock()
_module_locks: dict[str, threading.RLock] = {}
_connections: dict[tuple[str, int, bytes], TokenConnection] = {}


def connection(config: Pkcs11Config) -> TokenConnection:
    """The cached connection to the token ``config`` selects (found and checked anew)."""
    with _registry_lock:  # one lock per library file, however its path is spelled
        lock = _module_locks.setdefault(os.path.realpath(config.module), threading.RLock())
    with lock:
        lib = load_module(config.module)
        token = find_token(lib, config)
        key = (lib.so, token.slot.slot_id, token.serial)
        with _registry_lock:
            conn = _connections.get(key)
            if conn is not None and conn.pid != os.getpid():
                conn = None  # inherited across fork: never reuse a parent's session
            if conn is None:
                conn = _connections[key] = TokenConnection(lib, token, lock)
            else:
                conn.token = token
        return conn


def close_all() -> None:
    """Log out, close every cached session and finalise the loaded modules.

    Runs at interpreter exit. The next operation loads and logs in again, as a new
    process would (SoftHSM2 also re-reads ``SOFTHSM2_CONF`` then).
    """
    import sys

    with _registry_lock:
        connections = list(_connections.values())
        _connections.clear()
    for conn in connections:
        with conn.lock:
            if conn.pid == os.getpid():
                conn.close()
    pkcs11 = sys.modules.get("pkcs11")
    if pkcs11 is None:
        return
    for so in list(getattr(pkcs11, "_loaded", {})):
        lib = pkcs11._loaded[so]
        with contextlib.suppress(Exception):
            if lib.initialized:
                lib.finalize()


atexit.register(close_all)
