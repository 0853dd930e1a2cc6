"""Where the config file is looked for, in order."""

from __future__ import annotations

from pathlib import Path

from mcp_router.errors import ConfigError

__all__ = ["DEFAULT_LOCATIONS", "find_config"]


def _home_locations() -> list[Path]:
    home = Path.home()
    return [
        home / ".config" / "claude-cli" / "mcp-router.yaml",
        home / ".config" / "mcp" / "mcp-router.yaml",
    ]


DEFAULT_LOCATIONS = (
    "$HOME/.config/claude-cli/mcp-router.yaml",
    "$HOME/.config/mcp/mcp-router.yaml",
    "/etc/mcp/mcp-router.yaml",
)


def find_config(explicit: str | Path | None = None) -> Path | None:
    """The config file to use: ``explicit`` (which must exist), else the first default
    location that exists, else ``None`` (commands then run on built-in defaults)."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"config file {path} does not exist",
                hint="check the --config path, or run 'mcp-router setup' to create one",
            )
        return path
    for path in [*_home_locations(), Path("/etc/mcp/mcp-router.yaml")]:
        if path.is_file():
            return path
    return None
