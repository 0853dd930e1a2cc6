"""The rules for token names and values, and the layer that enforces them.

Names: 1 to 128 characters from lowercase ``a-z``, digits, ``.``, ``_`` and ``-``; the
first and last character must be a letter or digit. Lowercase only, because Windows
Credential Manager compares targets case-insensitively: ``Token`` and ``token`` would be
one credential there and two elsewhere.

Reserved: a name ending in ``..previous`` (:data:`RESERVED_SUFFIX`) is a companion item
holding a rotated token's previous value (see :mod:`mcp_router.secure.rotation`). Backends
accept it (:func:`validate_name`); the user-facing layer refuses it
(:func:`validate_user_name`), so only the store itself reads and writes companions.

Values: non-empty text of at most 65,536 bytes once UTF-8 encoded. Any Unicode is allowed
except unpaired surrogates (they cannot be encoded). A value read as text from a stream or
a file (``--stdin``, ``--file``, ``token_file``, a custom helper's output) loses exactly
one trailing line ending (:func:`strip_one_newline`): ``echo``, editors and ``base64 -d``
add one.
"""

from __future__ import annotations

import re

from mcp_router.errors import InvalidTokenNameError, InvalidTokenValueError
from mcp_router.secure.store import TokenInfo, TokenStore

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_VALUE_BYTES",
    "RESERVED_SUFFIX",
    "ValidatingStore",
    "is_valid_name",
    "strip_one_newline",
    "validate_name",
    "validate_user_name",
    "validate_value",
]

MAX_NAME_LENGTH = 128
MAX_VALUE_BYTES = 65_536
RESERVED_SUFFIX = "..previous"
_NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?\Z")


def validate_name(name: object) -> str:
    """Return ``name`` if it is a valid token name, else raise :class:`InvalidTokenNameError`."""
    if not isinstance(name, str) or not name:
        raise InvalidTokenNameError(
            "token name is empty", hint="use e.g. 'gateway-token'"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidTokenNameError(
            f"token name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}"
        )
    if not _NAME_RE.match(name):
        raise InvalidTokenNameError(
            f"invalid token name {_printable(name)}",
            hint="use lowercase letters, digits, '.', '_' and '-', starting and ending "
            "with a letter or digit, e.g. 'prod-gateway-bearer-2024'",
        )
    return name


def is_valid_name(name: object) -> bool:
    """Whether ``name`` may be a token name: for backends that list items other tools
    may have created, and skip the ones mcp-router could not address."""
    try:
        validate_name(name)
    except InvalidTokenNameError:
        return False
    return True


def validate_user_name(name: object) -> str:
    """:func:`validate_name`, and refuse the names reserved for companion items."""
    checked = validate_name(name)
    if checked.endswith(RESERVED_SUFFIX):
        raise InvalidTokenNameError(
            f"token names ending in '{RESERVED_SUFFIX}' are reserved for the previous value "
            "kept by 'token rotate --backup'",
            hint="choose another name; read a previous value with 'token get --previous'",
        )
    return checked


def validate_value(value: object) -> str:
    """Return ``value`` if it is a storable token value, else raise.

    The message never includes the value.
    """
    if not isinstance(value, str):
        raise InvalidTokenValueError("token value must be text")
    if not value:
        raise InvalidTokenValueError("token value is empty")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidTokenValueError(
            "token value contains characters that cannot be encoded as UTF-8"
        ) from None
    if size > MAX_VALUE_BYTES:
        raise InvalidTokenValueError(
            f"token value is {size} bytes; the limit is {MAX_VALUE_BYTES} bytes"
        )
    return value


def strip_one_newline(text: str) -> str:
    """``text`` without one trailing ``\\n`` or ``\\r\\n``; anything else is kept exactly."""
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


def _printable(name: str) -> str:
    # ascii() escapes control characters and NUL, so the message stays one safe line.
    shown = name if len(name) <= 40 else name[:40] + "..."
    return ascii(shown)


class ValidatingStore:
    """Layer: refuse bad names and values before any backend sees them."""

    def __init__(self, inner: TokenStore) -> None:
        self.inner = inner

    def store(self, name: str, token: str) -> None:
        self.inner.store(validate_user_name(name), validate_value(token))

    def retrieve(self, name: str) -> str:
        return self.inner.retrieve(validate_user_name(name))

    def delete(self, name: str) -> None:
        self.inner.delete(validate_user_name(name))

    def list(self) -> list[TokenInfo]:
        return self.inner.list()
