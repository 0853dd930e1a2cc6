"""The MCP-specific HTTP headers a Streamable HTTP client sends with each POST.

Over stdio these facts live in the messages themselves; over HTTP the specification also
wants them in headers so that intermediaries can route without reading bodies:

- ``MCP-Protocol-Version``: after an ``initialize`` handshake, the negotiated version on
  every later request; for the per-request envelope of 2026-07-28 and later, the version
  the request names in ``params._meta``.
- ``Mcp-Method`` and ``Mcp-Name`` (per-request envelope only): the method, and the tool or
  prompt name or resource URI of ``tools/call``, ``prompts/get`` and ``resources/read``.
- ``Mcp-Param-<token>`` (per-request envelope only): the ``tools/call`` arguments the
  tool's input schema marks with ``x-mcp-header``. The relay learns those schemas from the
  ``tools/list`` results it relays.

Values that would not survive as an HTTP field are sent base64-wrapped as ``=?base64?...?=``.
"""

from __future__ import annotations

import base64
import re
from typing import Any

__all__ = ["PROTOCOL_VERSION_META_KEY", "HeaderState", "encode_header_value"]

PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion"
_NAME_PARAMS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
_SAFE = re.compile(r"[\x20-\x7e]*\Z")
_SENTINEL = re.compile(r"=\?base64\?.*\?=\Z")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_HEADER_TYPES = {"string", "integer", "boolean"}


def encode_header_value(value: str) -> str:
    """``value`` itself when it is plain printable ASCII, else its base64 sentinel form."""
    if _SAFE.match(value) and value == value.strip() and not _SENTINEL.match(value):
        return value
    return "=?base64?" + base64.b64encode(value.encode("utf-8")).decode("ascii") + "?="


def _render(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _param_map(schema: Any) -> dict[tuple[str, ...], str] | None:
    """``x-mcp-header`` annotations reachable through ``properties`` chains.

    ``None`` when an annotation is invalid (wrong type, bad token, duplicate): a conforming
    client then sends no parameter headers for that tool. Annotations below other schema
    keywords are not followed (the server ignores them too).
    """
    found: dict[tuple[str, ...], str] = {}
    seen: set[str] = set()
    stack: list[tuple[tuple[str, ...], Any]] = [((), schema)]
    while stack:
        path, node = stack.pop()
        if not isinstance(node, dict):
            continue
        token = node.get("x-mcp-header")
        if path and token is not None:
            if not isinstance(token, str) or not _TOKEN.match(token):
                return None
            if node.get("type") not in _HEADER_TYPES or token.lower() in seen:
                return None
            seen.add(token.lower())
            found[path] = token
        props = node.get("properties")
        if isinstance(props, dict):
            stack.extend(((*path, name), sub) for name, sub in props.items())
    return found


class HeaderState:
    """What the relay has learnt that later headers depend on."""

    def __init__(self) -> None:
        #: The version the ``initialize`` handshake settled on.
        self.negotiated_version: str | None = None
        self._tool_params: dict[str, dict[tuple[str, ...], str]] = {}

    def learn_initialize(self, result: Any) -> None:
        version = result.get("protocolVersion") if isinstance(result, dict) else None
        if isinstance(version, str):
            self.negotiated_version = version

    def learn_tools(self, result: Any) -> None:
        tools = result.get("tools") if isinstance(result, dict) else None
        for tool in tools if isinstance(tools, list) else []:
            if isinstance(tool, dict) and isinstance(tool.get("name"), str):
                mapping = _param_map(tool.get("inputSchema"))
                if mapping:
                    self._tool_params[tool["name"]] = mapping
                else:
                    self._tool_params.pop(tool["name"], None)

    def for_message(self, body: Any) -> dict[str, str]:
        """The MCP headers to send with the POST of ``body``."""
        if not isinstance(body, dict):
            return self._version_only()
        method = body.get("method")
        params = body.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        envelope = meta.get(PROTOCOL_VERSION_META_KEY) if isinstance(meta, dict) else None
        if method == "initialize":
            return {}
        if not isinstance(envelope, str) or not isinstance(method, str):
            return self._version_only()
        headers = {"MCP-Protocol-Version": envelope, "Mcp-Method": method}
        assert isinstance(params, dict)
        name_key = _NAME_PARAMS.get(method)
        if name_key and isinstance(params.get(name_key), str):
            headers["Mcp-Name"] = encode_header_value(params[name_key])
        if method == "tools/call":
            headers.update(self._param_headers(params.get("name"), params.get("arguments")))
        return headers

    def _version_only(self) -> dict[str, str]:
        if self.negotiated_version:
            return {"MCP-Protocol-Version": self.negotiated_version}
        return {}

    def _param_headers(self, name: Any, arguments: Any) -> dict[str, str]:
        mapping = self._tool_params.get(name) if isinstance(name, str) else None
        if not mapping or not isinstance(arguments, dict):
            return {}
        headers: dict[str, str] = {}
        for path, token in mapping.items():
            value: Any = arguments
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            rendered = _render(value) if value is not None else None
            if rendered is not None:
                headers[f"Mcp-Param-{token}"] = encode_header_value(rendered)
        return headers
