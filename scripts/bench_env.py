"""Throw-away environments for the benchmark: a private HOME per store, populated fast
through the library, and (where installed) private Secret Service, pass and SoftHSM2
services started the same way the test fixtures start them."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["BenchEnv", "pass_env", "secret_service_env"]


class BenchEnv:
    """A private HOME/XDG_CONFIG_HOME, the environment to run commands in, and helpers to
    fill the store quickly."""

    def __init__(self, root: Path, backend: str, extra_env: dict[str, str] | None = None):
        self.root = root
        self.backend = backend
        home = root / "home"
        home.mkdir(parents=True, exist_ok=True)
        self.config_dir = home / ".config" / "mcp-router"
        self.file_path = self.config_dir / "tokens.enc"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus",
            **(extra_env or {}),
        }

    @classmethod
    @contextmanager
    def file(cls) -> Iterator[BenchEnv]:
        root = Path(tempfile.mkdtemp(prefix="mcp-bench-"))
        try:
            yield cls(root, "file")
        finally:
            shutil.rmtree(root, ignore_errors=True)

    @classmethod
    @contextmanager
    def pkcs11(cls) -> Iterator[BenchEnv | None]:
        # Filled in once the pkcs11 backend and its SoftHSM2 fixture land.
        yield None

    @contextmanager
    def _env(self) -> Iterator[None]:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.env)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def populate(self, count: int) -> None:
        """``bench-0`` .. ``bench-{count-1}``, 40-character values, metadata rows too."""
        from mcp_router import StoreSettings, open_store

        tokens = {f"bench-{i}": f"{i:08d}" + "v" * 32 for i in range(count)}
        with self._env():
            store = open_store(StoreSettings(backend=self.backend))
            bulk = getattr(store.backend, "_modify", None)
            if bulk is not None:  # the file backend: one write instead of `count`
                bulk(lambda current: current.update(tokens))
                for name in tokens:
                    store.index.record_store(store.backend_name, name)
            else:
                for name, value in tokens.items():
                    store.store(name, value)
            store.close()

    def populate_index(self, rows: int) -> None:
        """Extra metadata rows (for other backends' names) so the index holds ``rows``."""
        db = sqlite3.connect(self.config_dir / "metadata.db")
        with db:
            db.executemany(
                "INSERT OR IGNORE INTO tokens (backend, name, created) VALUES (?, ?, ?)",
                ((f"other-{i % 7}", f"t-{i}", "2026-01-01T00:00:00+00:00")
                 for i in range(rows)),
            )
        db.close()

    def populate_audit(self, records: int) -> bool:
        """Fill the audit log, if this build has one. Returns whether it did."""
        try:
            from mcp_router.secure import audit
        except ImportError:
            return False
        filler: Callable[[Path, int], None] | None = getattr(audit, "bench_fill", None)
        if filler is None:
            return False
        with self._env():
            filler(self.config_dir, records)
        return True

    def count_missing(self, names: list[str], expected: Callable[[str], str]) -> int:
        from mcp_router import StoreSettings, open_store

        with self._env():
            store = open_store(StoreSettings(backend=self.backend))
            missing = 0
            for name in names:
                try:
                    missing += store.retrieve(name) != expected(name)
                except KeyError:
                    missing += 1
            store.close()
        return missing

    def keyring_set(self, service: str, user: str, value: str) -> None:
        with self._env():
            import keyring

            keyring.set_password(service, user, value)


@contextmanager
def secret_service_env() -> Iterator[BenchEnv | None]:
    # Filled in once the Secret Service fixture lands.
    yield None


@contextmanager
def pass_env() -> Iterator[BenchEnv | None]:
    # Filled in once the custom backend and its pass fixture land.
    yield None
