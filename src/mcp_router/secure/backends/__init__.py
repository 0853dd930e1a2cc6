"""Backends: raw secret I/O against one storage system each, nothing else.

Each module exposes ``create(settings) -> Backend`` and is registered by name in
:mod:`mcp_router.secure.registry` and the ``mcp_router.backends`` entry-point group.
"""
