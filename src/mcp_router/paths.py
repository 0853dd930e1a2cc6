"""Where mcp-router keeps its files, and how it creates them safely."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["config_dir", "ensure_private_dir", "fsync_dir"]

APP_DIR = "mcp-router"


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/mcp-router``, else ``~/.config/mcp-router`` (``%APPDATA%`` on Windows)."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / APP_DIR
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / APP_DIR
    return Path.home() / ".config" / APP_DIR


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if missing; the leaf is created 0700.

    An existing directory is left as it is: ``doctor`` reports loose permissions and
    ``token repair`` tightens them, rather than every command changing them silently.
    """
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
    return path


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (after a rename) where the platform allows it."""
    if sys.platform == "win32":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
