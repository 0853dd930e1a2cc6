"""``type: oauth2``: access tokens from a token endpoint (client_credentials or password grant).

The client secret (and for the password grant the password) is read from the store each
time a token is fetched, so a secret rotated in the store is used at the next fetch. The
access token is kept until shortly before it expires and replaced at once when the gateway
refuses it (HTTP 401).

With ``cache_token: true`` the access token is also kept in the secure store (never in a
plain file), so a new router process reuses it instead of fetching one. Several router
processes (one per client window is common) then share it: fetching happens under a
cross-process lock, and whoever gets the lock second finds the fresh token in the cache
instead of fetching another (single flight). A cached token the gateway refuses is
discarded and replaced by the process that sees the refusal; nobody has to delete a
cache by hand.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from mcp_router.auth.base import SecretSource, StoreWorker
from mcp_router.errors import AuthenticationError, GatewayError, TokenNotFoundError
from mcp_router.router.redact import redact_url
from mcp_router.secret import Secret

if TYPE_CHECKING:
    from mcp_router.config.resolver import SecretResolver
    from mcp_router.config.schema import OAuth2Auth, TLSConfig
    from mcp_router.secure.opener import SecureStore

__all__ = ["AccessToken", "OAuth2Provider", "TokenCache"]

log = logging.getLogger(__name__)

#: Renew this long before expiry at most (10% of the lifetime for short-lived tokens).
REFRESH_MARGIN = 30.0
LOCK_TIMEOUT = 30.0
HTTP_TIMEOUT = 15.0


@dataclass(frozen=True)
class AccessToken:
    value: Secret
    expires_at: float | None = None  # epoch seconds; None: unknown, used until refused
    issued_at: float = 0.0

    def usable(self, now: float) -> bool:
        if self.expires_at is None:
            return True
        margin = min(REFRESH_MARGIN, (self.expires_at - self.issued_at) * 0.1)
        return now < self.expires_at - margin

    def to_json(self) -> str:
        return json.dumps({"access_token": self.value.reveal(), "expires_at": self.expires_at,
                           "issued_at": self.issued_at})

    @classmethod
    def from_json(cls, text: str) -> AccessToken | None:
        try:
            data = json.loads(text)
            return cls(Secret(str(data["access_token"])), data.get("expires_at"),
                       float(data.get("issued_at") or 0.0))
        except (ValueError, KeyError, TypeError):
            return None


class TokenCache:
    """One access token in the secure store, under a name derived from the client identity."""

    def __init__(self, store: SecureStore, identity: str) -> None:
        self.store = store
        digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
        self.name = f"oauth2-cache.{digest}"
        # Beside the store's own lock file, in the private state directory.
        self.lock_path: Path = Path(store.lock.path).parent / f"{self.name}.lock"

    def load(self) -> AccessToken | None:
        try:
            return AccessToken.from_json(self.store.retrieve(self.name))
        except TokenNotFoundError:
            return None

    def save(self, token: AccessToken) -> None:
        self.store.store(self.name, token.to_json())

    def lock(self) -> AbstractContextManager[object]:
        from mcp_router.secure.locking import FileLock

        return FileLock(self.lock_path, timeout=LOCK_TIMEOUT)


class OAuth2Provider:
    """Fetches, caches and renews access tokens for one OAuth2 client."""

    def __init__(
        self,
        *,
        client_id: str,
        token_endpoint: str,
        worker: StoreWorker,
        client_secret: SecretSource | None = None,
        secret_name: str = "NAME",  # noqa: S107 - a token name placeholder
        password_name: str = "NAME",  # noqa: S107 - a token name placeholder
        grant_type: str = "client_credentials",
        username: str | None = None,
        password: SecretSource | None = None,
        scopes: tuple[str, ...] = (),
        auth_method: str = "client_secret_basic",
        audience: str | None = None,
        cache: Any = None,
        verify: Any = True,
    ) -> None:
        self.client_id = client_id
        self.token_endpoint = token_endpoint
        self.grant_type = grant_type
        self.username = username
        self.scopes = scopes
        self.auth_method = auth_method
        self.audience = audience
        self.hint = f"check client_id and the secret: mcp-router token update --name {secret_name}"
        self._password_name = password_name
        self._secret = client_secret
        self._password = password
        self._worker = worker
        self._cache_factory = cache
        self._cache: TokenCache | None = None
        self._verify = verify
        self._token: AccessToken | None = None
        self._early: Future[AccessToken] | None = None

    @classmethod
    def from_config(
        cls, auth: OAuth2Auth, resolver: SecretResolver, worker: StoreWorker,
        *, tls: TLSConfig | None = None,
    ) -> OAuth2Provider:
        def source(ref: Any) -> SecretSource | None:
            return None if ref is None else (lambda: resolver.resolve(ref))

        identity = "\n".join([auth.token_endpoint, auth.client_id, auth.grant_type,
                              auth.username or "", " ".join(sorted(auth.scopes)),
                              auth.audience or ""])
        cache = (lambda: TokenCache(resolver.store(), identity)) if auth.cache_token else None
        verify: Any = True
        if tls is not None and (not tls.verify or tls.ca_file is not None):
            import ssl

            verify = False if not tls.verify else ssl.create_default_context(
                cafile=str(tls.ca_file))
        return cls(
            client_id=auth.client_id, token_endpoint=auth.token_endpoint, worker=worker,
            client_secret=source(auth.client_secret),
            secret_name=auth.client_secret.name if auth.client_secret else "NAME",
            password_name=auth.password.name if auth.password else "NAME",
            grant_type=auth.grant_type, username=auth.username,
            password=source(auth.password), scopes=auth.scopes,
            auth_method=auth.token_endpoint_auth_method, audience=auth.audience,
            cache=cache, verify=verify,
        )

    # -- CredentialProvider ---------------------------------------------------------------
    def prefetch(self) -> None:
        """Get a token (from the cache or the endpoint) while the rest of the router starts."""
        self._early = self._worker.submit(lambda: self._obtain(None))

    async def headers(self) -> dict[str, str]:
        early, self._early = self._early, None
        if early is not None:
            try:
                await asyncio.wrap_future(early)
            except Exception:  # reported by the regular attempt just below
                log.debug("getting a token at start-up failed")
        token = self._token
        if token is None or not token.usable(time.time()):
            token = await self._worker.call(lambda: self._obtain(None))
        return {"Authorization": f"Bearer {token.value.reveal()}"}

    async def refresh(self, rejected: Mapping[str, str]) -> bool:
        refused = rejected.get("Authorization", "").removeprefix("Bearer ")
        log.info("the gateway refused the access token; getting a new one")
        token = await self._worker.call(lambda: self._obtain(refused))
        return token.value.reveal() != refused

    def describe(self) -> str:
        return f"OAuth2 access token of client '{self.client_id}'"

    # -- on the store worker thread -------------------------------------------------------
    def _obtain(self, refused: str | None) -> AccessToken:
        """A usable token other than ``refused``: from memory, the shared cache, or fetched."""
        now = time.time()
        current = self._token
        if current is not None and current.usable(now) and current.value.reveal() != refused:
            return current
        cache = self._shared_cache()
        with cache.lock() if cache is not None else nullcontext():
            if cache is not None:
                cached = cache.load()
                if (cached is not None and cached.usable(now)
                        and cached.value.reveal() != refused):
                    log.debug("using the access token cached in the store")
                    self._token = cached
                    return cached
            token = self._fetch()
            if cache is not None:
                cache.save(token)
            self._token = token
            return token

    def _shared_cache(self) -> TokenCache | None:
        if self._cache is None and self._cache_factory is not None:
            self._cache = self._cache_factory()
        return self._cache

    def _fetch(self) -> AccessToken:
        import httpx

        data, auth = self._request_body()
        try:
            with httpx.Client(verify=self._verify, timeout=HTTP_TIMEOUT) as client:
                response = client.post(self.token_endpoint, data=data, auth=auth,
                                       headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise GatewayError(
                f"cannot reach the token endpoint {redact_url(self.token_endpoint)} "
                f"({type(exc).__name__})",
                hint="check gateway.auth.token_endpoint and that the server is up",
            ) from None
        log.info("fetched a new access token from %s", redact_url(self.token_endpoint))
        return self._parse(response)

    def _request_body(self) -> tuple[dict[str, str], Any]:
        data = {"grant_type": self.grant_type}
        if self.scopes:
            data["scope"] = " ".join(self.scopes)
        if self.audience:
            data["audience"] = self.audience
        if self.grant_type == "password":
            assert self._password is not None
            data["username"] = self.username or ""
            data["password"] = self._password().reveal()
        secret = self._secret() if self._secret is not None else None
        if secret is None:
            data["client_id"] = self.client_id
            return data, None
        if self.auth_method == "client_secret_post":
            data["client_id"] = self.client_id
            data["client_secret"] = secret.reveal()
            return data, None
        # RFC 6749 section 2.3.1: both parts form-encoded before Basic encoding.
        return data, (quote_plus(self.client_id), quote_plus(secret.reveal()))

    def _parse(self, response: Any) -> AccessToken:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400 or not isinstance(body, dict):
            error = str(body.get("error", "")) if isinstance(body, dict) else ""
            raise self._refusal(response.status_code, error)
        value = body.get("access_token")
        kind = str(body.get("token_type", "bearer")).lower()
        if not isinstance(value, str) or not value or kind != "bearer":
            raise GatewayError("the token endpoint answered without a bearer access_token")
        now = time.time()
        expires_in = body.get("expires_in")
        expires_at = now + float(expires_in) if isinstance(expires_in, int | float) else None
        return AccessToken(Secret(value), expires_at, now)

    def _refusal(self, status: int, error: str) -> AuthenticationError:
        code = f" ({error[:60]})" if error else ""
        if error == "invalid_grant" and self.grant_type == "password":
            return AuthenticationError(
                f"the token endpoint refused the password of user '{self.username}'{code}",
                hint=f"store the right password: mcp-router token update --name "
                f"{self._password_name}",
            )
        if status in (400, 401) and error in ("invalid_client", "unauthorized_client", ""):
            return AuthenticationError(
                f"the token endpoint refused the client credentials of '{self.client_id}'"
                f"{code}", hint=self.hint.removeprefix("check "),
            )
        return AuthenticationError(f"the token endpoint answered HTTP {status}{code}",
                                   hint="check scopes and grant_type in gateway.auth")
