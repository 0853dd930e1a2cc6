"""Throw-away environments for the benchmark: a private HOME per store, populated fast
through the library, and (where installed) private Secret Service, pass and SoftHSM2
services, started by the same classes the test fixtures use (tests/fixtures/)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["BenchEnv", "pass_env", "secret_service_env"]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


class BenchEnv:
    """A private HOME/XDG_CONFIG_HOME, the environment to run commands in, and helpers to
    fill the store quickly."""

    def __init__(self, root: Path, backend: str, extra_env: dict[str, str] | None = None,
                 options: dict[str, object] | None = None):
        self.root = root
        self.backend = backend
        self.options = dict(options or {})
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
        if self.options:  # backend options reach the CLI through a config file
            import yaml

            config = root / "mcp-router.yaml"
            config.write_text(yaml.safe_dump({"version": 1, "advanced": {
                "secure_storage": {"backend": backend, **self.options}}}))
            self.env["MCP_ROUTER_CONFIG"] = str(config)

    def settings(self) -> object:
        from mcp_router import StoreSettings

        return StoreSettings(backend=self.backend, options=self.options)

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
        """A fresh SoftHSM2 token; the PIN in MCP_ROUTER_PKCS11_PIN."""
        from fixtures.softhsm import SoftHSM, find_softhsm_module

        module = find_softhsm_module()
        if module is None or shutil.which("softhsm2-util") is None:
            yield None
            return
        root = Path(tempfile.mkdtemp(prefix="mcp-bench-"))
        try:
            hsm = SoftHSM(module=module, root=root / "softhsm")
            hsm.write_conf()
            hsm.init_token(hsm.label)
            yield cls(root, "pkcs11", {
                "SOFTHSM2_CONF": str(hsm.conf), "MCP_ROUTER_PKCS11_PIN": hsm.pin,
                "BENCH_PKCS11_MODULE": module, "BENCH_PKCS11_LABEL": hsm.label,
            }, hsm.options())
        finally:
            shutil.rmtree(root, ignore_errors=True)

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
            store = open_store(StoreSettings(backend=self.backend, options=self.options))
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
            from mcp_router.secure import auditlog
        except ImportError:
            return False
        filler: Callable[[Path, int], None] | None = getattr(auditlog, "bench_fill", None)
        if filler is None:
            return False
        with self._env():
            filler(self.config_dir, records)
        return True

    def count_missing(self, names: list[str], expected: Callable[[str], str]) -> int:
        from mcp_router import StoreSettings, open_store

        with self._env():
            store = open_store(StoreSettings(backend=self.backend, options=self.options))
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
    """gnome-keyring, unlocked, on a private session bus."""
    if not (shutil.which("dbus-daemon") and shutil.which("gnome-keyring-daemon")):
        yield None
        return
    from fixtures.secretservice import KeyringDaemon

    root = Path(tempfile.mkdtemp(prefix="mcp-bench-"))
    daemon = KeyringDaemon(root / "keyring").start()
    try:
        env = BenchEnv(root, "secret-service", {
            "DBUS_SESSION_BUS_ADDRESS": daemon.address,
            "XDG_RUNTIME_DIR": str(daemon.runtime),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
        })
        yield env
    finally:
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def pass_env() -> Iterator[BenchEnv | None]:
    """`pass` with a throw-away GnuPG key, used through the `custom` backend."""
    if not all(shutil.which(t) for t in ("gpg", "pass", "gpgconf")):
        yield None
        return
    import subprocess

    from fixtures.passstore import NAMES_EXTENSION, PASS_OPTIONS

    root = Path(tempfile.mkdtemp(prefix="mcp-bench-"))
    gnupg = root / "gnupg"
    gnupg.mkdir(mode=0o700)
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(gnupg),
            "GNUPGHOME": str(gnupg)}
    try:
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                        "mcp-router-bench <bench@example.invalid>", "default", "default",
                        "never"], env=base, capture_output=True, check=True, timeout=120)
        listing = subprocess.run(["gpg", "--list-keys", "--with-colons"], env=base,
                                 capture_output=True, text=True, check=True).stdout
        fpr = next(x.split(":")[9] for x in listing.splitlines() if x.startswith("fpr:"))
        extensions = root / "pass-extensions"
        extensions.mkdir()
        (extensions / "names.bash").write_text(NAMES_EXTENSION)
        (extensions / "names.bash").chmod(0o700)
        pass_vars = {"GNUPGHOME": str(gnupg), "PASSWORD_STORE_DIR": str(root / "store"),
                     "PASSWORD_STORE_ENABLE_EXTENSIONS": "true",
                     "PASSWORD_STORE_EXTENSIONS_DIR": str(extensions)}
        subprocess.run(["pass", "init", fpr], env={**base, **pass_vars},
                       capture_output=True, check=True)
        yield BenchEnv(root, "custom", pass_vars, dict(PASS_OPTIONS))
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env=base, capture_output=True,
                       check=False)
        shutil.rmtree(root, ignore_errors=True)
