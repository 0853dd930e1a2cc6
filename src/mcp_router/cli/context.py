"""Per-invocation state shared by commands: global options and the lazily opened store."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

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
    #: Backend options a command adds for this invocation (e.g. ``restrict_access``).
    options: dict[str, object] = field(default_factory=dict)
    _store: SecureStore | None = field(default=None, repr=False)

    @cached_property
    def config_file(self) -> Path | None:
        from mcp_router.config.discovery import find_config

        return find_config(self.config_path)

    def settings(self) -> StoreSettings:
        """The store settings of the config file, with this invocation's options."""
        from mcp_router.config.storage import storage_settings

        return self.applied_to(storage_settings(self.config_file))

    def applied_to(self, settings: StoreSettings) -> StoreSettings:
        """``settings`` with the global options (``--backend``, ``--no-fallback``) and the
        terminal's prompts (the file passphrase, a backend's secret such as a PIN)."""
        from mcp_router.cli.inputs import passphrase_source, secret_prompt

        changes: dict[str, object] = {"passphrase": passphrase_source(settings),
                                      "prompt": secret_prompt}
        if self.backend:
            changes["backend"] = self.backend
        if self.no_fallback:
            changes["allow_fallback"] = False
        if self.options:
            changes["options"] = {**settings.options, **self.options}
        return replace(settings, **changes)  # type: ignore[arg-type]

    def store(self) -> SecureStore:
        if self._store is None:
            from mcp_router.secure.opener import open_store

            settings = self.settings()
            self._store = open_store(settings)
            sel = self._store.selection
            if self.verbose:
                fallback = "fallback: " if sel.fell_back else ""
                click.echo(f"backend: {sel.backend} ({fallback}{sel.reason}; "
                           f"{self._store.backend.describe()})", err=True)
                for name, why in sel.rejected.items():
                    click.echo(f"  rejected {name}: {why}", err=True)
            if sel.fell_back:
                _FallbackNotice(self._store, settings.resolved_config_dir()).arm()
        return self._store


class _FallbackNotice:
    """Say once, on stderr, that tokens go to the encrypted file because the platform
    store is unusable, and why: on the first write that lands there.

    A marker file in the config directory remembers that it was said. ``--verbose``
    prints the choice and the reasons on every run regardless.
    """

    MARKER = "fallback-notice-shown"

    def __init__(self, store: SecureStore, config_dir: Path) -> None:
        self.store = store
        self.marker = config_dir / self.MARKER

    def arm(self) -> None:
        if self.marker.exists():
            return
        for method in ("store", "create", "update"):  # the ways a token lands in a store
            original = getattr(self.store, method)

            def announced(*args: object, _original: Any = original, **kwargs: object
                          ) -> object:
                self.say()
                return _original(*args, **kwargs)

            setattr(self.store, method, announced)

    def say(self) -> None:
        if self.marker.exists():
            return
        reasons = "; ".join(f"{n}: {why}" for n, why in self.store.selection.rejected.items())
        click.echo(
            f"note: no platform credential store is usable ({reasons}), so tokens are "
            f"kept in the {self.store.backend.describe()}. This note is shown once; "
            "'mcp-router token doctor' explains the reasons, and --no-fallback (or "
            "advanced.secure_storage.allow_fallback: false) refuses instead.",
            err=True,
        )
        with contextlib.suppress(OSError):
            self.marker.touch(0o600)
