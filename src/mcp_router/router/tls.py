"""An :class:`ssl.SSLContext` from the ``tls`` settings (``verify``, ``ca_file``, mTLS)."""

from __future__ import annotations

import ssl

from mcp_router.config.schema import TLSConfig
from mcp_router.errors import ConfigError

__all__ = ["ssl_context"]


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
