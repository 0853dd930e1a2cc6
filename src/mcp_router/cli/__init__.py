"""The ``mcp-router`` command line. Commands parse, prompt and print; the layers below
do the work. One module per command group."""

from mcp_router.cli.main import cli, main

__all__ = ["cli", "main"]
