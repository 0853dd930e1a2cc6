"""Token rotation: replace a value, keep the previous one on request, roll back to it.

The previous value lives in the SAME backend as the token, as a companion item named
``<name>..previous``. The name is inside the alphabet every backend accepts, but
:func:`~mcp_router.secure.validation.validate_user_name` refuses it from users, so only
this module (through the store's audited chain below validation) reads or writes it.
A token name longer than 118 characters leaves no room for the suffix and cannot keep a
previous value. ``SecureStore.list`` hides companions, ``SecureStore.delete``
removes a token's companion with it, and the metadata index keeps a row for it like for
any item, so its ``created`` time is when the old value was set aside. A companion is
never written to the index or the audit log as a value: only its name (the audit log
records it under the token's own name).

A generated token is :data:`GENERATED_BYTES` (32) random bytes from :mod:`secrets`,
URL-safe base64 without padding: 43 characters, 256 bits of entropy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_router.errors import InvalidTokenNameError, TokenNotFoundError
from mcp_router.secure.validation import (
    MAX_NAME_LENGTH,
    RESERVED_SUFFIX,
    validate_user_name,
    validate_value,
)

if TYPE_CHECKING:
    from mcp_router.secure.opener import SecureStore
    from mcp_router.secure.store import Backend

__all__ = [
    "GENERATED_BYTES",
    "PREVIOUS_SUFFIX",
    "generate_token",
    "has_previous",
    "is_companion",
    "previous_name",
    "read_previous",
    "rollback",
    "rotate",
    "token_of",
]

PREVIOUS_SUFFIX = RESERVED_SUFFIX
GENERATED_BYTES = 32


def previous_name(name: str) -> str:
    """The reserved item name holding the previous value of ``name``."""
    return name + PREVIOUS_SUFFIX


def is_companion(name: str) -> bool:
    """True for the reserved items that hold previous values."""
    return name.endswith(PREVIOUS_SUFFIX)


def token_of(item: str) -> str:
    """The token a companion item belongs to (``item`` itself for a token)."""
    return item[: -len(PREVIOUS_SUFFIX)] if is_companion(item) else item


def generate_token() -> str:
    """A new random token: 32 bytes from the OS CSPRNG, URL-safe base64 (43 characters)."""
    import secrets  # imported here: every store operation imports this module

    return secrets.token_urlsafe(GENERATED_BYTES)


def has_previous(backend: Backend, name: str) -> bool:
    """Whether ``backend`` holds a previous value for ``name`` (never for names too long
    to have one)."""
    item = previous_name(name)
    return len(item) <= MAX_NAME_LENGTH and backend.contains(item)


def rotate(store: SecureStore, name: str, new_value: str, *, backup: bool) -> None:
    """Replace the value of existing token ``name`` and mark it rotated.

    With ``backup`` the old value is first copied to the companion item; without it any
    older companion is removed, so that ``--previous`` never returns a stale value.
    """
    validate_user_name(name)
    validate_value(new_value)
    if backup and len(previous_name(name)) > MAX_NAME_LENGTH:
        raise InvalidTokenNameError(
            f"'{name}' is too long to keep a previous value (at most "
            f"{MAX_NAME_LENGTH - len(PREVIOUS_SUFFIX)} characters)",
            hint="rotate without --backup, or use a shorter name",
        )
    detail = "previous value kept" if backup else None
    with store.lock, store.audit.operation("rotate", name, detail=detail):
        if backup:
            store.audit.store(previous_name(name), store.audit.retrieve(name))
        elif not store.backend.contains(name):
            raise TokenNotFoundError(name, backend=store.backend_name)
        elif has_previous(store.backend, name):
            store.audit.delete(previous_name(name))
        store.audit.store(name, new_value)
        store.index.record_store(store.backend_name, name, rotated=True)


def read_previous(store: SecureStore, name: str) -> str:
    """The value kept by the last ``rotate --backup`` (or ``rollback``)."""
    validate_user_name(name)
    with store.audit.operation("get", name, detail="previous value"):
        try:
            return store.audit.retrieve(previous_name(name))
        except TokenNotFoundError:
            raise _no_previous(name, store.backend_name) from None


def rollback(store: SecureStore, name: str) -> None:
    """Swap the current and the previous value, so a rollback can itself be undone.

    The previous value is written to the token first: if the process dies between the two
    writes, the token already holds the value the user asked for.
    """
    validate_user_name(name)
    with store.lock, store.audit.operation("rollback", name):
        try:
            old = store.audit.retrieve(previous_name(name))
        except TokenNotFoundError:
            raise _no_previous(name, store.backend_name) from None
        current = store.audit.retrieve(name)
        store.audit.store(name, old)
        store.audit.store(previous_name(name), current)
        store.index.record_store(store.backend_name, name, rotated=True)


def _no_previous(name: str, backend: str) -> TokenNotFoundError:
    error = TokenNotFoundError(name, backend=backend)
    error.message = f"no previous value of '{name}' is kept in the {backend} store"
    error.hint = f"'mcp-router token rotate --name {name} --backup' keeps one"
    return error
