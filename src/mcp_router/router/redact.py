"""Keep passwords written into URLs out of logs and JSON-RPC errors.

The config accepts ``https://user:password@host/mcp`` (with a warning), and messages of
other libraries (OSError, h11, websockets) may quote a URL. Everything the router logs or
sends to the client as an error passes through :func:`redact_url`, which replaces the
userinfo part (``user:password@``) of every URL in a text with ``***@``.
"""

from __future__ import annotations

import re

__all__ = ["describe_exception", "redact_url"]

# scheme://  then the authority up to its LAST "@" (a password may contain "@"), never
# crossing the end of the authority ("/", "?", "#") or of the URL (whitespace, quotes).
_USERINFO = re.compile(r"""(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#"'<>]*@""")


def redact_url(text: str) -> str:
    """``text`` (a URL, or a message quoting URLs) with each URL's userinfo as ``***@``."""
    return _USERINFO.sub(r"\1***@", text)


def describe_exception(exc: BaseException) -> str:
    """An exception for a log line or an error message, without URL passwords.

    Our own exceptions (``mcp_router.*``) carry sentences written for the user and are
    shown as they are; another library's are shown as ``Type: message``, so that a bare
    message from deep inside a library still says where it came from.
    """
    message = redact_url(str(exc))
    if type(exc).__module__.split(".")[0] == "mcp_router":
        return message or type(exc).__name__
    name = type(exc).__name__
    return f"{name}: {message}" if message else name
