"""The ``file`` backend: every token in one AES-256-GCM encrypted file.

Writes are read-modify-write under a lock file beside the token file, written to a 0600
temporary file in the same directory, fsynced, renamed over the old file and the directory
fsynced, so a reader (or a crash) only ever sees the old or the new file. A file that does
not decrypt is never overwritten.

The token file must be a regular file: a symbolic link (or a directory, FIFO ...) at its
path is refused rather than followed on read and silently replaced by the rename on write.
The machine id, user id and passphrase are resolved once per backend object, and the
derived key is cached with them (see :mod:`mcp_router.secure.encfile.crypto`).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import stat
from collections.abc import Callable
from pathlib import Path

from mcp_router.errors import (
    AccessDeniedError,
    CorruptStoreError,
    DecryptionError,
    StorageUnavailableError,
    StoreLockedError,
    TokenNotFoundError,
)
from mcp_router.paths import TEMP_SUFFIX, atomic_write, ensure_private_dir
from mcp_router.secure.encfile import crypto
from mcp_router.secure.encfile.format import MIN_ITERATIONS, Header
from mcp_router.secure.locking import FileLock
from mcp_router.secure.store import Backend, ProbeResult, StoreSettings, TokenInfo

__all__ = ["PASSPHRASE_ENV", "FileBackend", "create", "env_passphrase"]

PASSPHRASE_ENV = "MCP_ROUTER_PASSPHRASE"  # noqa: S105 - a variable name


def env_passphrase(required: bool) -> str | None:
    """The default passphrase source: ``MCP_ROUTER_PASSPHRASE`` if set and non-empty."""
    return os.environ.get(PASSPHRASE_ENV) or None


class FileBackend(Backend):
    """Tokens in one encrypted file. Thread-unsafe; process-safe through the lock file."""

    name = "file"

    def __init__(
        self,
        path: Path,
        *,
        machine_id: str | None = None,
        user_id: str | None = None,
        passphrase: Callable[[bool], str | None] | None = env_passphrase,
        iterations: int = MIN_ITERATIONS,
    ) -> None:
        self.path = Path(path)
        self._machine_id = machine_id
        self._user_id = user_id
        self._passphrase = passphrase or (lambda required: None)
        self.iterations = iterations
        self.lock = FileLock(self.path.with_name(self.path.name + ".lock"))
        self._key_material: crypto.KeyMaterial | None = None

    def describe(self) -> str:
        return f"encrypted file {self.path}"

    def probe(self) -> ProbeResult:
        try:
            self._material(with_passphrase=False)
        except StorageUnavailableError as exc:
            return ProbeResult(False, exc.message)
        return ProbeResult(True, f"encrypted file at {self.path}")

    # -- key material -----------------------------------------------------------------
    def _material(self, with_passphrase: bool) -> crypto.KeyMaterial:
        """The key material, resolved once; the passphrase is asked for only when needed."""
        if self._key_material is None:
            from mcp_router.secure.encfile.machine import machine_id, user_id

            mid = self._machine_id if self._machine_id is not None else machine_id()
            uid = self._user_id if self._user_id is not None else user_id()
            self._key_material = crypto.KeyMaterial(mid, uid)
        material = self._key_material
        if with_passphrase and not material.passphrase:
            phrase = self._passphrase(True)
            if not phrase:
                raise StoreLockedError(
                    f"{self.path} is protected by a passphrase and none was given",
                    hint=f"set {PASSPHRASE_ENV} or run the command in a terminal",
                )
            material.passphrase = phrase
        return material

    # -- file I/O ---------------------------------------------------------------------
    def _read(self) -> bytes | None:
        """The file's bytes, ``None`` if there is no file; never through a symlink."""
        if self.path.is_symlink():  # O_NOFOLLOW below closes the race where it exists
            raise self._not_regular("is a symbolic link")
        try:
            fd = os.open(self.path, os.O_RDONLY | _O_BINARY | _O_NOFOLLOW | _O_NONBLOCK)
        except FileNotFoundError:
            return None
        except PermissionError as exc:
            raise AccessDeniedError(
                f"cannot read {self.path}: permission denied",
                hint="run 'mcp-router token repair --all' as the file's owner",
            ) from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise self._not_regular("is a symbolic link") from None
            raise StorageUnavailableError(f"cannot read {self.path}: {exc.strerror}") from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # before fdopen: it refuses directories
            os.close(fd)
            raise self._not_regular("is not a regular file")
        with os.fdopen(fd, "rb") as fh:
            return fh.read()

    def _not_regular(self, what: str) -> StorageUnavailableError:
        return StorageUnavailableError(
            f"{self.path} {what}; the token file must be a regular file",
            hint="point advanced.secure_storage.file_path at the real file",
        )

    def _load(self) -> tuple[Header | None, dict[str, str], crypto.KeyMaterial | None]:
        from mcp_router.secure.encfile.format import parse_file

        data = self._read()
        if data is None:
            return None, {}, None
        try:
            header, _ = parse_file(data)
            material = self._material(header.passphrase)
            try:
                header, tokens = crypto.decrypt_file(data, material)
            except DecryptionError:
                if header.passphrase:  # perhaps a mistyped passphrase: ask again next time
                    material.passphrase = None
                    material.forget()
                raise
        except CorruptStoreError as exc:
            raise self._unreadable(exc) from exc
        return header, tokens, material

    def _unreadable(self, exc: CorruptStoreError) -> CorruptStoreError:
        """``exc`` (same class: corrupt or undecryptable) naming this file and the fix."""
        return type(exc)(
            f"{self.path}: {exc.message}",
            hint=exc.hint or "the file was left untouched; move it aside to start an empty "
            "store, then restore a backup ('mcp-router token restore') or store the tokens "
            "again",
        )

    def _save(
        self,
        tokens: dict[str, str],
        header: Header | None,
        material: crypto.KeyMaterial | None,
    ) -> None:
        if header is None or material is None:
            material = self._material(with_passphrase=False)
            material.passphrase = material.passphrase or self._passphrase(False)
            header = crypto.new_header(self.iterations, passphrase=bool(material.passphrase))
        data = crypto.encrypt_file(tokens, material, header)
        self._atomic_write(data)

    def _atomic_write(self, data: bytes) -> None:
        self._remove_stale_temps()
        try:
            atomic_write(self.path, data)
        except OSError as exc:
            what = f"cannot write {self.path}: {exc.strerror or exc}"
            hint = "the previous file is intact; free some space or fix the directory's " \
                "permissions, then retry"
            if isinstance(exc, PermissionError):
                raise AccessDeniedError(what, hint=hint) from exc
            raise StorageUnavailableError(what, hint=hint) from exc

    def _remove_stale_temps(self) -> None:
        # Called with the lock held: any temp file of this token file left now belongs to a
        # killed writer. The pattern names the file, so that two token files sharing a
        # directory (each with its own lock) never delete each other's temp files.
        pattern = f".{glob.escape(self.path.name)}.*{TEMP_SUFFIX}"
        for stale in self.path.parent.glob(pattern):
            with contextlib.suppress(OSError):
                stale.unlink()

    def _modify(self, change: Callable[[dict[str, str]], None]) -> None:
        ensure_private_dir(self.path.parent)
        with self.lock:
            header, tokens, material = self._load()
            change(tokens)
            self._save(tokens, header, material)

    # -- TokenStore -------------------------------------------------------------------
    def store(self, name: str, token: str) -> None:
        def put(tokens: dict[str, str]) -> None:
            tokens[name] = token

        self._modify(put)

    def retrieve(self, name: str) -> str:
        try:
            return self._load()[1][name]
        except KeyError:
            raise TokenNotFoundError(name, backend=self.name) from None

    def contains(self, name: str) -> bool:
        return name in self._load()[1]

    def delete(self, name: str) -> None:
        def remove(tokens: dict[str, str]) -> None:
            if tokens.pop(name, None) is None:
                raise TokenNotFoundError(name, backend=self.name)

        self._modify(remove)

    def names(self) -> list[str]:
        return sorted(self._load()[1])

    def list(self) -> list[TokenInfo]:
        return [TokenInfo(name=n, backend=self.name) for n in self.names()]


_O_BINARY = getattr(os, "O_BINARY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO at the path must not hang the open


def create(settings: StoreSettings) -> FileBackend:
    return FileBackend(
        settings.resolved_file_path(),
        passphrase=settings.passphrase or env_passphrase,
    )
