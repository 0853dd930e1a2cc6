"""The ``wincred`` backend: Windows Credential Manager.

Each token is a *generic* credential with target ``MCP-Router:<name>``, persisted for the
local machine (``CRED_PERSIST_LOCAL_MACHINE``: it survives log-off and stays on this
computer; it does not roam with the profile). The user name field holds the token name so
Control Panel and ``cmdkey /list`` show something useful. Calls go through pywin32-ctypes'
``win32cred`` (pure ctypes, no compiled extension).

Large values. Credential Manager caps a credential blob at 2,560 bytes (it stores text as
UTF-16, so about 1,280 ASCII characters), which OAuth and JWT tokens exceed. A longer value
is split into parts:

* part 0 lives in ``MCP-Router:<name>`` itself, whose *comment* field carries a manifest
  ``mcp-router chunked v1 gen=<g> parts=<n> length=<u>``;
* parts 1..n-1 live in ``MCP-Router:<name>#<g>.<i>``. Token names cannot contain ``#``
  (see :mod:`mcp_router.secure.validation`), so these targets never collide with a token.

The manifest is in the comment rather than in the blob so that a value that fits in one
credential is stored verbatim, exactly as other tools (``cmdkey``, PowerShell's
CredentialManager, keyring) write and read it. A write stores the new parts under a fresh
generation ``<g>`` first and the main credential (the commit point) last, then removes the
old generation; a reader that raced a writer finds its generation's parts missing and reads
again. The splitting and target mapping are pure functions, tested on every platform.
"""

from __future__ import annotations

import re
import secrets
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mcp_router.errors import (
    AccessDeniedError,
    CorruptStoreError,
    MCPRouterError,
    StorageUnavailableError,
    TokenNotFoundError,
)
from mcp_router.secure.store import Backend, ProbeResult, StoreSettings, TokenInfo
from mcp_router.secure.validation import is_valid_name

__all__ = [
    "MAX_BLOB_BYTES",
    "TARGET_PREFIX",
    "Manifest",
    "Part",
    "WinCredBackend",
    "assemble",
    "chunk_target",
    "create",
    "parse_target",
    "plan_store",
    "split_value",
    "target_for",
    "translate_error",
]

TARGET_PREFIX = "MCP-Router:"
MAX_BLOB_BYTES = 2560  # CRED_MAX_CREDENTIAL_BLOB_SIZE
CRED_TYPE_GENERIC = 1
CRED_PERSIST_LOCAL_MACHINE = 2

ERROR_ACCESS_DENIED = 5
ERROR_NOT_FOUND = 1168
ERROR_NO_SUCH_LOGON_SESSION = 1312
ERROR_BAD_USERNAME = 2202
_READ_ATTEMPTS = 3
_MANIFEST = re.compile(r"mcp-router chunked v1 gen=([0-9a-f]{8}) parts=([1-9][0-9]*) "
                       r"length=([0-9]+)\Z")


# -- pure mapping: targets, parts, manifest ---------------------------------------------
def target_for(name: str) -> str:
    """The credential target of token ``name``."""
    return f"{TARGET_PREFIX}{name}"


def chunk_target(name: str, generation: str, index: int) -> str:
    """The target of part ``index`` (1-based beyond the main credential) of a long value."""
    return f"{TARGET_PREFIX}{name}#{generation}.{index}"


def parse_target(target: str) -> tuple[str, str | None] | None:
    """``(name, None)`` for a token's target, ``(name, "<g>.<i>")`` for one of its parts,
    ``None`` for a target that is not ours (compared case-insensitively, like Windows)."""
    if not target[: len(TARGET_PREFIX)].casefold() == TARGET_PREFIX.casefold():
        return None
    name, sep, part = target[len(TARGET_PREFIX):].partition("#")
    return (name, part if sep else None)


def _units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1  # UTF-16 code units


def split_value(value: str, limit: int = MAX_BLOB_BYTES) -> list[str]:
    """Split ``value`` into parts whose UTF-16 encoding fits ``limit`` bytes each.

    A character is never cut in two (a surrogate pair stays in one part).
    """
    budget = limit // 2
    parts, current, used = [], [], 0
    for char in value:
        units = _units(char)
        if used + units > budget:
            parts.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += units
    parts.append("".join(current))
    return parts


@dataclass(frozen=True)
class Manifest:
    """What the main credential's comment says about a value stored in parts."""

    generation: str
    parts: int
    length: int  # UTF-16 code units of the whole value

    def comment(self) -> str:
        return f"mcp-router chunked v1 gen={self.generation} parts={self.parts} " \
               f"length={self.length}"

    @classmethod
    def parse(cls, comment: str | None) -> Manifest | None:
        match = _MANIFEST.match(comment or "")
        if not match:
            return None
        return cls(match[1], int(match[2]), int(match[3]))


@dataclass(frozen=True)
class Part:
    """One credential to write: its target, blob text and comment."""

    target: str
    blob: str
    comment: str | None = None


def plan_store(name: str, value: str, generation: str,
               existing: Iterable[str] = ()) -> tuple[list[Part], list[str]]:
    """What to write (in order; the main credential last) and which old targets to delete.

    ``existing`` are the targets of ``name``'s parts found before the write.
    """
    pieces = split_value(value)
    writes: list[Part] = []
    keep: set[str] = set()
    if len(pieces) > 1:
        for index, piece in enumerate(pieces[1:], start=1):
            target = chunk_target(name, generation, index)
            writes.append(Part(target, piece))
            keep.add(target)
        manifest = Manifest(generation, len(pieces), sum(map(_units, value)))
        writes.append(Part(target_for(name), pieces[0], manifest.comment()))
    else:
        writes.append(Part(target_for(name), value))
    stale = []
    for target in existing:
        parsed = parse_target(target)
        if target not in keep and parsed is not None and parsed[0] == name and parsed[1]:
            stale.append(target)
    return writes, sorted(stale)


def assemble(name: str, blob: str, comment: str | None,
             read_part: Callable[[str], str | None]) -> str | None:
    """The whole value from the main credential and its parts; None if a part is missing
    (a writer replaced them meanwhile: read again). Raises when the parts do not add up."""
    manifest = Manifest.parse(comment)
    if manifest is None:
        return blob
    pieces = [blob]
    for index in range(1, manifest.parts):
        piece = read_part(chunk_target(name, manifest.generation, index))
        if piece is None:
            return None
        pieces.append(piece)
    value = "".join(pieces)
    if sum(map(_units, value)) != manifest.length:
        raise CorruptStoreError(
            f"the Credential Manager parts of '{name}' do not add up to the stored length",
            hint=f"store it again: mcp-router token set --name {name} --force",
        )
    return value


def translate_error(code: int, action: str, name: str | None = None) -> MCPRouterError:
    """Our error for a Win32 error ``code`` from ``action`` (e.g. ``"read"``)."""
    subject = f"'{name}'" if name else "credentials"
    if code == ERROR_NOT_FOUND and name:
        return TokenNotFoundError(name, backend="wincred")
    if code == ERROR_NO_SUCH_LOGON_SESSION:
        return StorageUnavailableError(
            "Credential Manager is not available in this logon session (no loaded user "
            "profile, e.g. a service account or an SSH key login)",
            hint="log on interactively or with a password, or use --backend file",
        )
    if code == ERROR_ACCESS_DENIED:
        return AccessDeniedError(f"Credential Manager refused to {action} {subject}")
    return StorageUnavailableError(
        f"Credential Manager could not {action} {subject} (Windows error {code})",
        hint="check the service: sc query VaultSvc",
    )


# -- the backend ----------------------------------------------------------------------------
def _win32cred() -> Any:
    if sys.platform != "win32":
        raise StorageUnavailableError("Windows Credential Manager exists only on Windows")
    try:
        from win32ctypes.pywin32 import win32cred
    except ImportError as exc:
        raise StorageUnavailableError(
            "pywin32-ctypes is not installed", hint="pip install pywin32-ctypes"
        ) from exc
    return win32cred


def _code(exc: BaseException) -> int:
    return int(getattr(exc, "winerror", 0) or 0)


class WinCredBackend(Backend):
    """Tokens as generic credentials ``MCP-Router:<name>`` (long values in parts)."""

    name = "wincred"

    def describe(self) -> str:
        return "Windows Credential Manager (generic credentials MCP-Router:<name>)"

    def _call(self, action: str, name: str | None, function: str, *args: Any) -> Any:
        api = _win32cred()
        from win32ctypes.pywin32.pywintypes import error as win_error

        try:
            return getattr(api, function)(*args)
        except win_error as exc:
            raise translate_error(_code(exc), action, name) from exc

    def _read(self, target: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self._call("read", target, "CredRead", target,
                                                CRED_TYPE_GENERIC)
        except TokenNotFoundError:
            return None
        return result

    def _targets(self, pattern: str) -> list[str]:
        """Targets matching ``pattern`` (a prefix ending in ``*``); none is not an error."""
        api = _win32cred()
        from win32ctypes.pywin32.pywintypes import error as win_error

        try:
            found = api.CredEnumerate(pattern, 0)
        except win_error as exc:
            if _code(exc) == ERROR_NOT_FOUND:
                return []
            raise translate_error(_code(exc), "list") from exc
        return [str(c["TargetName"]) for c in found or ()]

    def probe(self) -> ProbeResult:
        try:
            self._targets(TARGET_PREFIX + "*")
        except MCPRouterError as exc:
            return ProbeResult(False, exc.message)
        return ProbeResult(True, "Windows Credential Manager is available")

    def store(self, name: str, token: str) -> None:
        existing = self._targets(f"{target_for(name)}#*")
        writes, stale = plan_store(name, token, secrets.token_hex(4), existing)
        for part in writes:
            credential = {
                "Type": CRED_TYPE_GENERIC,
                "TargetName": part.target,
                "UserName": name,
                "CredentialBlob": part.blob,
                "Comment": part.comment,
                "Persist": CRED_PERSIST_LOCAL_MACHINE,
            }
            self._call("write", name, "CredWrite", credential, 0)
        for target in stale:
            self._delete_target(target)

    def retrieve(self, name: str) -> str:
        for _ in range(_READ_ATTEMPTS):
            main = self._read(target_for(name))
            if main is None:
                raise TokenNotFoundError(name, backend=self.name)
            value = assemble(name, _text(main), main.get("Comment"), self._read_part)
            if value is not None:
                return value
        raise CorruptStoreError(
            f"parts of the Credential Manager value of '{name}' are missing",
            hint=f"store it again: mcp-router token set --name {name} --force",
        )

    def _read_part(self, target: str) -> str | None:
        credential = self._read(target)
        return None if credential is None else _text(credential)

    def contains(self, name: str) -> bool:
        return self._read(target_for(name)) is not None

    def delete(self, name: str) -> None:
        self._call("delete", name, "CredDelete", target_for(name), CRED_TYPE_GENERIC)
        for target in self._targets(f"{target_for(name)}#*"):
            self._delete_target(target)

    def _delete_target(self, target: str) -> None:
        try:
            self._call("delete", target, "CredDelete", target, CRED_TYPE_GENERIC)
        except TokenNotFoundError:
            pass  # another writer removed it first

    def list(self) -> list[TokenInfo]:
        names = set()
        for target in self._targets(TARGET_PREFIX + "*"):
            parsed = parse_target(target)
            if parsed is not None and parsed[1] is None and is_valid_name(parsed[0]):
                names.add(parsed[0])
        return [TokenInfo(name=n, backend=self.name) for n in sorted(names)]


def _text(credential: dict[str, Any]) -> str:
    blob = credential.get("CredentialBlob") or b""
    if isinstance(blob, str):
        return blob
    try:
        return bytes(blob).decode("utf-16-le")
    except UnicodeDecodeError:
        raise CorruptStoreError(
            f"the credential {credential.get('TargetName')} does not hold UTF-16 text"
        ) from None


def create(settings: StoreSettings) -> WinCredBackend:
    return WinCredBackend()
