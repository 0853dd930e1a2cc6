"""An :class:`ssl.SSLContext` from the ``tls`` settings (``verify``, ``ca_file``, mTLS)."""

from __future__ import annotations

import ssl

from mcp_router.config.schema import TLSConfig
from mcp_router.errors import ConfigError

__all__ = ["describe_tls_failure", "ssl_context"]


def ssl_context(options: TLSConfig) -> ssl.SSLContext:
    """The client context for ``https://`` and ``wss://`` gateways.

    ``verify: false`` turns off certificate and host-name checks entirely (the router logs a
    warning); ``ca_file`` replaces the system trust store with the given bundle.
    """
    try:
        if options.ca_file is not None:
            context = ssl.create_default_context(cafile=str(options.ca_file.expanduser()))
        else:
            context = ssl.create_default_context()
        if not options.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if options.client_cert is not None:
            context.load_cert_chain(
                str(options.client_cert.expanduser()),
                str(options.client_key.expanduser()) if options.client_key else None,
                password=_no_passphrase,
            )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the TLS files: {exc.strerror or exc}",
            hint="check tls.ca_file, tls.client_cert and tls.client_key",
        ) from None
    return context


def _no_passphrase() -> str:
    # Without a callback OpenSSL would prompt on the terminal, which a relay cannot answer.
    raise ConfigError(
        "the TLS client key is encrypted with a passphrase",
        hint="give tls.client_key an unencrypted key readable only by you",
    )


def describe_tls_failure(exc: BaseException, tls: TLSConfig | None = None) -> str | None:
    """A sentence naming the fix when ``exc`` (or its cause) is a TLS failure, else None.

    With TLS 1.3 a server that wants a client certificate just closes the connection, so
    when ``tls`` (the settings of a TLS connection) has none, a connection closed before
    any answer is reported with that possibility.
    """
    parts: list[str] = []
    seen: BaseException | None = exc
    for _ in range(8):  # the whole (short) chain of causes
        if seen is None:
            break
        parts.append(f"{type(seen).__name__}: {seen}")
        seen = seen.__cause__ or seen.__context__
    text = " | ".join(parts)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return ("the gateway's TLS certificate could not be verified "
                "(set tls.ca_file to the CA that issued it)")
    if "certificate required" in text.lower() or "CERTIFICATE_REQUIRED" in text:
        return ("the gateway requires a client certificate "
                "(set tls.client_cert and tls.client_key)")
    if "SSL" in text or "TLS" in text:
        return "the TLS handshake with the gateway failed"
    closed = any(sign in text for sign in (
        "disconnected without sending a response", "connection closed while reading",
        "ReadError", "ConnectionResetError", "EOF"))
    if tls is not None and tls.client_cert is None and closed:
        return ("the gateway closed the TLS connection without answering (if it requires a "
                "client certificate, set tls.client_cert and tls.client_key)")
    return None
