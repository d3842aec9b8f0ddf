"""The two ways to reach a portal: an inbound-webhook URL, or an OAuth app with stored tokens.

OAuth rules (docs `settings/oauth/auto-renewal.md`, research/bitrix24.md 1.2): call, and on
`401 expired_token` refresh at `oauth.bitrix.info` and repeat the same call; every refresh
rotates the refresh token too, so it is saved at once; concurrent callers share one refresh
(a lock, and a re-read of the store in case another process already refreshed), and a failed
refresh is not repeated for the same token. `client_secret` goes only to the OAuth server.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests

from connector.errors import AuthError, ConfigError
from connector.http import Timeouts, json_body, make_session, send

DEFAULT_OAUTH_URL = "https://oauth.bitrix.info/oauth/token/"


class TokenStore(Protocol):
    """Where the portal's credentials live between runs (the store's `credentials` table)."""

    def load(self) -> dict[str, Any] | None: ...

    def save(self, tokens: dict[str, Any]) -> None: ...


class MemoryTokenStore:
    """A `TokenStore` in memory, for tests and one-off runs."""

    def __init__(self, tokens: dict[str, Any] | None = None) -> None:
        self.tokens = dict(tokens) if tokens else None
        self.saves = 0

    def load(self) -> dict[str, Any] | None:
        return dict(self.tokens) if self.tokens else None

    def save(self, tokens: dict[str, Any]) -> None:
        self.tokens = dict(tokens)
        self.saves += 1


class Connection(Protocol):
    """How a request finds the portal and proves who sends it."""

    is_app: bool

    def url(self, method: str) -> str: ...

    def sign(self, params: dict[str, Any]) -> tuple[dict[str, Any], str | None]: ...

    def refresh(self, used_token: str | None) -> None: ...

    def moved(self, location: str) -> None: ...


class WebhookConnection:
    """An inbound webhook `https://portal/rest/<user>/<code>/`: the secret is in the URL."""

    is_app = False

    def __init__(self, webhook_url: str | None) -> None:
        if not webhook_url:
            raise ConfigError("CONNECTOR_BITRIX24_WEBHOOK_URL is empty")
        self.base = webhook_url.rstrip("/") + "/"

    def url(self, method: str) -> str:
        return self.base + method

    def sign(self, params: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        return params, None

    def refresh(self, used_token: str | None) -> None:
        raise AuthError("the Bitrix24 webhook was refused; check or re-create it")

    def moved(self, location: str) -> None:
        self.base = _with_host(self.base, location)

    @property
    def portal_url(self) -> str:
        parts = urlsplit(self.base)
        return f"{parts.scheme}://{parts.netloc}"


class OAuthConnection:
    """An OAuth app: `auth=<access_token>` on every call, refreshed on `expired_token`."""

    is_app = True

    def __init__(
        self,
        client_id: str | None,
        client_secret: str | None,
        store: TokenStore,
        *,
        portal_url: str | None = None,
        oauth_url: str | None = None,
        session: requests.Session | None = None,
        timeouts: Timeouts = Timeouts(),
    ) -> None:
        if not client_id or not client_secret:
            raise ConfigError("CONNECTOR_BITRIX24_CLIENT_ID and _CLIENT_SECRET are required")
        self.client_id = client_id
        self.client_secret = client_secret
        self.store = store
        self.portal_url = portal_url.rstrip("/") if portal_url else None
        self.token_url = token_endpoint(oauth_url or DEFAULT_OAUTH_URL)
        self.session = session or make_session(pool_size=2)
        self.timeouts = timeouts
        self._tokens: dict[str, Any] | None = None
        self._failed_refresh: set[str] = set()
        self._lock = threading.Lock()

    @property
    def tokens(self) -> dict[str, Any]:
        if self._tokens is None:
            self._tokens = self.store.load() or {}
        return self._tokens

    def url(self, method: str) -> str:
        endpoint = self.tokens.get("client_endpoint")
        if not endpoint:
            if not self.portal_url:
                raise ConfigError("CONNECTOR_BITRIX24_PORTAL_URL is required for the OAuth app")
            endpoint = self.portal_url + "/rest/"
        return endpoint.rstrip("/") + "/" + method

    def sign(self, params: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        token = self.tokens.get("access_token")
        if not token:
            raise AuthError("no Bitrix24 access token stored; install the app first")
        return {**params, "auth": token}, token

    def refresh(self, used_token: str | None) -> None:
        """Renews the tokens once for everyone who saw `used_token` expire."""
        with self._lock:
            stored = self.store.load() or {}
            if stored.get("access_token") and stored.get("access_token") != used_token:
                self._tokens = stored  # another worker or process refreshed already
                return
            current = stored or self.tokens
            refresh_token = current.get("refresh_token")
            if not refresh_token:
                raise AuthError("no Bitrix24 refresh token stored; reinstall the app")
            if refresh_token in self._failed_refresh:
                raise AuthError("Bitrix24 token refresh already failed for this token")
            answer = self._request_tokens(refresh_token)
            if "access_token" not in answer:
                self._failed_refresh.add(refresh_token)
                code = answer.get("error", "no access_token")
                raise AuthError(f"Bitrix24 token refresh refused: {code}")
            tokens = {**current, **answer}
            self.store.save(tokens)
            self._tokens = tokens

    def _request_tokens(self, refresh_token: str) -> dict[str, Any]:
        params = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": refresh_token,
        }
        response = send(
            self.session,
            "GET",
            self.token_url,
            params=params,
            timeout=self.timeouts.as_tuple(),
        )
        answer = json_body(response, {"error": f"HTTP {response.status_code}"})
        return answer if isinstance(answer, dict) else {"error": "unexpected answer"}

    def moved(self, location: str) -> None:
        tokens = dict(self.tokens)
        endpoint = tokens.get("client_endpoint") or (self.portal_url or "") + "/rest/"
        tokens["client_endpoint"] = _with_host(endpoint, location)
        moved = urlsplit(location)
        self.portal_url = f"{moved.scheme}://{moved.netloc}"
        self._tokens = tokens
        self.store.save(tokens)


def token_endpoint(oauth_url: str) -> str:
    """The token endpoint from either the server (`https://oauth.bitrix.info`) or the endpoint."""
    base = oauth_url.rstrip("/")
    return base + "/" if base.endswith("/oauth/token") else base + "/oauth/token/"


def _with_host(url: str, location: str) -> str:
    """`url` with the scheme and host of `location` (a renamed portal answers 302)."""
    new = urlsplit(location)
    old = urlsplit(url)
    return urlunsplit((new.scheme or old.scheme, new.netloc or old.netloc, old.path, "", ""))
