"""A click group that imports a subcommand's module only when that subcommand runs.

``mcp-router token get`` is called from scripts and by every router start, so it must not
pay for importing ``run``, ``setup`` or ``backup`` (and their dependencies). Help and
shell completion still list every command: listing needs only the names.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click

__all__ = ["LazyGroup"]


class LazyGroup(click.Group):
    """``lazy_subcommands`` maps a command name to ``"package.module:attribute"``."""

    def __init__(self, *args: Any, lazy_subcommands: Mapping[str, str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = dict(lazy_subcommands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands and cmd_name not in self.commands:
            module_name, _, attribute = self.lazy_subcommands[cmd_name].partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):  # pragma: no cover - a wiring bug
                raise TypeError(f"{self.lazy_subcommands[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)
