"""Per-invocation state shared by commands: global options and the lazily opened store."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import click

from mcp_router.secure.opener import SecureStore
from mcp_router.secure.store import StoreSettings

__all__ = ["AppContext"]


@dataclass
class AppContext:
    config_path: str | None = None
    backend: str | None = None
    no_fallback: bool = False
    verbose: bool = False
    debug: bool = False
    _store: SecureStore | None = field(default=None, repr=False)

    @cached_property
    def config_file(self) -> Path | None:
        from mcp_router.config.discovery import find_config

        return find_config(self.config_path)

    def settings(self) -> StoreSettings:
        from mcp_router.cli.inputs import passphrase_source
        from mcp_router.config.storage import storage_settings

        settings = storage_settings(self.config_file)
        changes: dict[str, object] = {"passphrase": passphrase_source(settings)}
        if self.backend:
            changes["backend"] = self.backend
        if self.no_fallback:
            changes["allow_fallback"] = False
        return replace(settings, **changes)  # type: ignore[arg-type]

    def store(self) -> SecureStore:
        if self._store is None:
            from mcp_router.secure.opener import open_store

            self._store = open_store(self.settings())
            sel = self._store.selection
            if self.verbose:
                click.echo(f"backend: {sel.backend} ({sel.reason})", err=True)
                for name, why in sel.rejected.items():
                    click.echo(f"  rejected {name}: {why}", err=True)
        return self._store
