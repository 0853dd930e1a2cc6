"""The ``keychain`` backend: the macOS login keychain, through Security.framework.

Each token is a generic password item with service ``com.poiley.mcp-router`` and account
``<name>`` (label ``MCP Router: <name>``), so ``security find-generic-password -s
com.poiley.mcp-router -a <name>`` finds it. The calls are the SecItem API through ctypes,
the approach of keyring's macOS backend, with two differences that matter here: values go
in as CFData (bytes, so nothing is cut at a NUL) and an existing item is *updated* in place
(``SecItemUpdate``) rather than deleted and re-added, so a crash cannot lose it.

Listing: the Keychain is not enumerated; :meth:`KeychainBackend.list` raises
:class:`NotSupportedError` and the metadata index (which records every token mcp-router
stores or reads) answers ``token list``.

``restrict_access`` (``token set --restrict-access``): the item is created with an access
list naming only the calling program. For mcp-router that program is the **Python
interpreter** that runs it, not a separate mcp-router binary: any Python code run by that
same interpreter can read the item without a prompt, while other programs (including
``security find-generic-password -w``) make macOS ask the user first. After an interpreter
upgrade macOS asks again, because the signature it trusted changed.
"""

from __future__ import annotations

import ctypes
import sys
from ctypes import byref, c_char_p, c_int32, c_long, c_uint32, c_void_p
from typing import Any

from mcp_router.errors import (
    AccessDeniedError,
    CorruptStoreError,
    MCPRouterError,
    NotSupportedError,
    StorageUnavailableError,
    StoreLockedError,
    TokenNotFoundError,
)
from mcp_router.secure.store import Backend, ProbeResult, StoreSettings, TokenInfo

__all__ = ["SERVICE", "KeychainBackend", "create", "label_for", "translate_status"]

SERVICE = "com.poiley.mcp-router"

ERR_USER_CANCELED = -128
ERR_AUTH_FAILED = -25293
ERR_NO_SUCH_KEYCHAIN = -25294
ERR_NOT_AVAILABLE = -25291
ERR_DUPLICATE_ITEM = -25299
ERR_ITEM_NOT_FOUND = -25300
ERR_NO_DEFAULT_KEYCHAIN = -25307
ERR_INTERACTION_NOT_ALLOWED = -25308
_UNLOCKED = 1  # kSecUnlockStateStatus
_UTF8 = 0x08000100  # kCFStringEncodingUTF8
_UNLOCK_HINT = "unlock it with: security unlock-keychain"


def label_for(name: str) -> str:
    return f"MCP Router: {name}"


def translate_status(status: int, action: str, name: str | None = None) -> MCPRouterError:
    """Our error for an ``OSStatus`` returned by a Security.framework call."""
    subject = f"'{name}'" if name else "the keychain"
    if status == ERR_ITEM_NOT_FOUND and name:
        return TokenNotFoundError(name, backend="keychain")
    if status == ERR_INTERACTION_NOT_ALLOWED:
        # Not only a locked keychain: an item whose access list does not name this program
        # also needs a dialog, and gets this status where none can be shown.
        return StoreLockedError(
            f"macOS needs a dialog to give access to {subject} and cannot show one here "
            "(no GUI session): the keychain is locked, or the item's access list does not "
            "name this program",
            hint=f"{_UNLOCK_HINT}; if it is unlocked, allow the program in Keychain Access "
            "or store the token again with mcp-router",
        )
    if status in (ERR_USER_CANCELED, ERR_AUTH_FAILED):
        return AccessDeniedError(f"access to {subject} in the keychain was denied",
                                 hint="allow mcp-router when macOS asks, or check the item's "
                                 "access list in Keychain Access")
    if status in (ERR_NO_DEFAULT_KEYCHAIN, ERR_NO_SUCH_KEYCHAIN, ERR_NOT_AVAILABLE):
        return StorageUnavailableError("there is no default keychain for this user",
                                       hint="create or select one in Keychain Access, or use "
                                       "--backend file")
    return StorageUnavailableError(f"the keychain could not {action} {subject} "
                                   f"(OSStatus {status})",
                                   hint="see: security error " + str(status))


class _Security:
    """ctypes bindings to the parts of Security.framework and CoreFoundation used here."""

    def __init__(self) -> None:
        from ctypes.util import find_library

        sec_path, cf_path = find_library("Security"), find_library("CoreFoundation")
        if not sec_path or not cf_path:
            raise StorageUnavailableError("Security.framework is not available")
        self.sec = ctypes.CDLL(sec_path)
        self.cf = ctypes.CDLL(cf_path)
        self._bind()

    def _fn(self, lib: Any, name: str, restype: Any, *argtypes: Any) -> None:
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
        setattr(self, name, function)

    def _bind(self) -> None:
        cf, sec = self.cf, self.sec
        self._fn(cf, "CFRelease", None, c_void_p)
        self._fn(cf, "CFStringCreateWithCString", c_void_p, c_void_p, c_char_p, c_uint32)
        self._fn(cf, "CFDataCreate", c_void_p, c_void_p, c_char_p, c_long)
        self._fn(cf, "CFDataGetBytePtr", c_void_p, c_void_p)
        self._fn(cf, "CFDataGetLength", c_long, c_void_p)
        self._fn(cf, "CFDictionaryCreate", c_void_p, c_void_p, c_void_p, c_void_p, c_long,
                 c_void_p, c_void_p)
        self._fn(cf, "CFArrayCreate", c_void_p, c_void_p, c_void_p, c_long, c_void_p)
        for name in ("SecItemAdd", "SecItemCopyMatching", "SecItemUpdate"):
            self._fn(sec, name, c_int32, c_void_p, c_void_p)
        self._fn(sec, "SecItemDelete", c_int32, c_void_p)
        self._fn(sec, "SecKeychainCopyDefault", c_int32, c_void_p)
        self._fn(sec, "SecKeychainGetStatus", c_int32, c_void_p, c_void_p)
        self._fn(sec, "SecTrustedApplicationCreateFromPath", c_int32, c_char_p, c_void_p)
        self._fn(sec, "SecAccessCreate", c_int32, c_void_p, c_void_p, c_void_p)

    def const(self, name: str) -> int:
        """The value of a ``CFStringRef``/``CFBooleanRef`` constant such as ``kSecClass``."""
        lib = self.cf if name.startswith("kCF") else self.sec
        value = c_void_p.in_dll(lib, name).value
        assert value is not None
        return value

    def symbol(self, name: str) -> int:
        """The address of a CoreFoundation struct constant (callbacks)."""
        return ctypes.addressof(c_void_p.in_dll(self.cf, name))


_api: _Security | None = None


def _security() -> _Security:
    global _api
    if sys.platform != "darwin":
        raise StorageUnavailableError("the macOS Keychain exists only on macOS")
    if _api is None:
        _api = _Security()
    return _api


class _Scope:
    """Creates CoreFoundation objects and releases them all when the block ends."""

    def __init__(self, api: _Security) -> None:
        self.api = api
        self.refs: list[int] = []

    def __enter__(self) -> _Scope:
        return self

    def __exit__(self, *exc: object) -> None:
        for ref in reversed(self.refs):
            self.api.CFRelease(ref)

    def own(self, ref: int | None) -> int:
        if not ref:
            raise StorageUnavailableError("CoreFoundation could not allocate an object")
        self.refs.append(ref)
        return ref

    def string(self, text: str) -> int:
        return self.own(self.api.CFStringCreateWithCString(None, text.encode(), _UTF8))

    def data(self, raw: bytes) -> int:
        return self.own(self.api.CFDataCreate(None, raw, len(raw)))

    def dict(self, items: dict[str, int]) -> int:
        keys = (c_void_p * len(items))(*(self.api.const(k) for k in items))
        values = (c_void_p * len(items))(*items.values())
        return self.own(self.api.CFDictionaryCreate(
            None, keys, values, len(items), self.api.symbol("kCFTypeDictionaryKeyCallBacks"),
            self.api.symbol("kCFTypeDictionaryValueCallBacks")))

    def item(self, name: str) -> dict[str, int]:
        """The attributes that identify token ``name``'s item."""
        return {
            "kSecClass": self.api.const("kSecClassGenericPassword"),
            "kSecAttrService": self.string(SERVICE),
            "kSecAttrAccount": self.string(name),
        }


class KeychainBackend(Backend):
    """Tokens as generic passwords (service ``com.poiley.mcp-router``, account = name)."""

    name = "keychain"

    def __init__(self, *, restrict_access: bool = False) -> None:
        self.restrict_access = restrict_access

    def describe(self) -> str:
        return f"macOS login keychain (service {SERVICE})"

    def keychain_state(self) -> str:
        """``"unlocked"`` or ``"locked"``: the default keychain's state, read without any
        dialog (``security show-keychain-info`` asks for the password of a locked keychain
        in a desktop session). Raises when there is no default keychain."""
        api = _security()
        keychain = c_void_p()
        status = api.SecKeychainCopyDefault(byref(keychain))
        if status:
            raise translate_status(status, "open")
        state = c_uint32()
        status = api.SecKeychainGetStatus(keychain, byref(state))
        api.CFRelease(keychain)
        if status:
            raise translate_status(status, "check")
        return "unlocked" if state.value & _UNLOCKED else "locked"

    def probe(self) -> ProbeResult:
        try:
            state = self.keychain_state()
        except MCPRouterError as exc:
            return ProbeResult(False, exc.message)
        if state == "unlocked":
            return ProbeResult(True, "the default keychain is unlocked")
        from mcp_router.secure.environment import classify

        if classify().desktop:
            return ProbeResult(True, "the default keychain is locked; macOS will ask to "
                               "unlock it")
        return ProbeResult(False, "the default keychain is locked and no unlock dialog can "
                           "be shown here (SSH session); run: security unlock-keychain")

    def retrieve(self, name: str) -> str:
        api = _security()
        with _Scope(api) as scope:
            query = scope.dict({**scope.item(name),
                                "kSecMatchLimit": api.const("kSecMatchLimitOne"),
                                "kSecReturnData": api.const("kCFBooleanTrue")})
            result = c_void_p()
            status = api.SecItemCopyMatching(query, byref(result))
            if status:
                raise translate_status(status, "read", name)
            data = scope.own(result.value)
            raw = ctypes.string_at(api.CFDataGetBytePtr(data), api.CFDataGetLength(data))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptStoreError(f"the keychain item for '{name}' does not hold UTF-8 "
                                    "text") from None

    def contains(self, name: str) -> bool:
        api = _security()
        with _Scope(api) as scope:
            status = api.SecItemCopyMatching(scope.dict(scope.item(name)), None)
        if status == ERR_ITEM_NOT_FOUND:
            return False
        if status:
            raise translate_status(status, "look up", name)
        return True

    def store(self, name: str, token: str) -> None:
        api = _security()
        with _Scope(api) as scope:
            value = scope.data(token.encode("utf-8"))
            if self.restrict_access:
                self._replace_restricted(scope, name, value)
                return
            status = api.SecItemUpdate(scope.dict(scope.item(name)),
                                       scope.dict({"kSecValueData": value}))
            if status == ERR_ITEM_NOT_FOUND:
                status = api.SecItemAdd(scope.dict({**scope.item(name),
                                                    "kSecAttrLabel": scope.string(
                                                        label_for(name)),
                                                    "kSecValueData": value}), None)
            if status:
                raise translate_status(status, "store", name)

    def _replace_restricted(self, scope: _Scope, name: str, value: int) -> None:
        """Create the item with an access list naming only this program.

        An access list is set when an item is created, so an existing item is replaced.
        """
        api = scope.api
        app = c_void_p()
        status = api.SecTrustedApplicationCreateFromPath(None, byref(app))  # None: caller
        if status:
            raise translate_status(status, "restrict access to", name)
        scope.own(app.value)
        apps = (c_void_p * 1)(app.value)
        trusted = scope.own(api.CFArrayCreate(None, apps, 1,
                                              api.symbol("kCFTypeArrayCallBacks")))
        access = c_void_p()
        status = api.SecAccessCreate(scope.string(label_for(name)), trusted, byref(access))
        if status:
            raise translate_status(status, "restrict access to", name)
        scope.own(access.value)
        status = api.SecItemDelete(scope.dict(scope.item(name)))
        if status not in (0, ERR_ITEM_NOT_FOUND):
            raise translate_status(status, "replace", name)
        status = api.SecItemAdd(scope.dict({**scope.item(name),
                                            "kSecAttrLabel": scope.string(label_for(name)),
                                            "kSecAttrAccess": access.value or 0,
                                            "kSecValueData": value}), None)
        if status:
            raise translate_status(status, "store", name)

    def delete(self, name: str) -> None:
        api = _security()
        with _Scope(api) as scope:
            status = api.SecItemDelete(scope.dict(scope.item(name)))
        if status:
            raise translate_status(status, "delete", name)

    def list(self) -> list[TokenInfo]:
        raise NotSupportedError(
            "the keychain backend does not enumerate items; the metadata index lists them"
        )


def create(settings: StoreSettings) -> KeychainBackend:
    return KeychainBackend(restrict_access=bool(settings.options.get("restrict_access")))
