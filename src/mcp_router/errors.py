"""The exceptions mcp-router raises, and the CLI exit code of each.

Every error is an :class:`MCPRouterError`. The tree::

    MCPRouterError                     exit 1
    ├── ConfigError                    exit 11  the YAML config is missing, malformed or invalid
    ├── ValidationError (ValueError)   exit 4
    │   ├── InvalidTokenNameError      a name outside the allowed alphabet or length
    │   └── InvalidTokenValueError     an empty, oversized or non-text value
    ├── TokenNotFoundError (KeyError)  exit 3   no token of that name in the store
    ├── AlreadyExistsError             exit 5   would replace something without --force
    │   └── TokenExistsError           set without --force on an existing name
    ├── StorageUnavailableError        exit 6   the backend cannot be reached or used here
    │   └── LockTimeoutError           another process held the store's lock too long
    ├── StoreLockedError               exit 7   the keyring/keychain is locked
    ├── CorruptStoreError              exit 8   the store's file cannot be parsed
    │   └── DecryptionError            exit 9   wrong key, or the data was tampered with
    ├── AccessDeniedError              exit 10  the OS or the store refused access
    ├── NotSupportedError              exit 12  the backend cannot do this operation
    ├── ConfirmationRequiredError      exit 13  a prompt was needed but none is possible
    ├── HelperError                    exit 14  an external helper command failed
    └── GatewayError                   exit 15  the gateway or backend could not be used
        └── AuthenticationError        a token endpoint or gateway refused the credential

Messages are one line, name the fix where there is one, and never contain a secret.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AlreadyExistsError",
    "AuthenticationError",
    "ConfigError",
    "ConfirmationRequiredError",
    "CorruptStoreError",
    "DecryptionError",
    "GatewayError",
    "HelperError",
    "InvalidTokenNameError",
    "InvalidTokenValueError",
    "LockTimeoutError",
    "MCPRouterError",
    "NotSupportedError",
    "StorageUnavailableError",
    "StoreLockedError",
    "TokenExistsError",
    "TokenNotFoundError",
    "ValidationError",
]


class MCPRouterError(Exception):
    """Base of every error mcp-router raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class ConfigError(MCPRouterError):
    """The configuration file is missing, malformed or does not validate."""

    exit_code = 11


class ValidationError(MCPRouterError, ValueError):
    """A token name or value breaks the documented rules."""

    exit_code = 4


class InvalidTokenNameError(ValidationError):
    """A token name outside the allowed alphabet or length."""


class InvalidTokenValueError(ValidationError):
    """A token value that is empty, too large or not text."""


class TokenNotFoundError(MCPRouterError, KeyError):
    """No token of that name exists in the store."""

    exit_code = 3

    def __init__(self, name: str, *, backend: str | None = None) -> None:
        where = f" in the {backend} store" if backend else ""
        super().__init__(
            f"no token named '{name}'{where}",
            hint=f"store it with: mcp-router token set --name {name}",
        )
        self.name = name

    # KeyError.__str__ would repr() the message; keep ours.
    __str__ = MCPRouterError.__str__


class AlreadyExistsError(MCPRouterError):
    """Something would be replaced without ``--force``: a token, a backup file, a config."""

    exit_code = 5


class TokenExistsError(AlreadyExistsError):
    """``token set`` on a name that already exists, without ``--force``."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"a token named '{name}' already exists",
            hint="use 'token update' or 'token set --force' to replace it",
        )
        self.name = name


class StorageUnavailableError(MCPRouterError):
    """The backend cannot be reached or used on this machine."""

    exit_code = 6

    def __init__(
        self, message: str, *, hint: str | None = None, reasons: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        #: For ``auto``: each rejected candidate backend and why it was rejected.
        self.reasons = dict(reasons or {})


class LockTimeoutError(StorageUnavailableError):
    """Another process held the store's lock for longer than the timeout."""


class StoreLockedError(MCPRouterError):
    """The keyring, keychain or collection is locked and could not be unlocked."""

    exit_code = 7


class CorruptStoreError(MCPRouterError):
    """The store's data cannot be parsed. The file is left untouched."""

    exit_code = 8


class DecryptionError(CorruptStoreError):
    """Authenticated decryption failed: the key is wrong or the data was modified.

    The two causes are deliberately indistinguishable (as with Fernet's InvalidToken).
    """

    exit_code = 9


class AccessDeniedError(MCPRouterError):
    """The operating system or the credential store refused access."""

    exit_code = 10


class NotSupportedError(MCPRouterError):
    """The selected backend cannot perform this operation."""

    exit_code = 12


class ConfirmationRequiredError(MCPRouterError):
    """A confirmation or prompt was needed, but there is no terminal to ask on."""

    exit_code = 13


class HelperError(MCPRouterError):
    """An external helper command (custom backend) failed or timed out."""

    exit_code = 14


class GatewayError(MCPRouterError):
    """``run`` could not reach or keep the upstream (gateway, backend, token endpoint)."""

    exit_code = 15


class AuthenticationError(GatewayError):
    """A token endpoint or the gateway refused the credential the router presented."""
