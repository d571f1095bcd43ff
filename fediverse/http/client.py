"""`HttpClient`: the shared aiohttp session with SSRF protection, timeouts and size caps."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from fediverse.config import Settings
from fediverse.http.addresses import AddressPolicy, SafeResolver
from fediverse.http.errors import FetchError
from fediverse.http.responses import (
    JSON_CONTENT_TYPES,
    charset_of,
    check_content_type,
    decode_json,
    drain,
    merge_headers,
    read_capped,
    status_error,
    translate_errors,
)

AS_ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'


TEXT_ACCEPT = "application/xrd+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"


MAX_REDIRECTS = 3


POST_RESPONSE_LIMIT = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class HttpClient:
    """Shared aiohttp session with SSRF protection, timeouts and size caps.

    One instance per process: it owns the connection pool (keep-alive to busy instances matters
    for delivery fan-out) and the DNS cache. Use `async with HttpClient(...)` or start()/close().
    `ssl_context` and `resolver` exist for tests (private CA, fake DNS); production leaves them
    None and get the system trust store (SSL_CERT_FILE is honoured) and aiohttp's default resolver.
    """

    def __init__(
        self,
        settings: Settings,
        user_agent: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self.settings = settings
        self.user_agent = user_agent
        self.policy = AddressPolicy(settings)
        self._timeout = float(settings.http_timeout_seconds)
        self._ssl_context = ssl_context
        self._inner_resolver = resolver
        self._session: aiohttp.ClientSession | None = None
        self._resolver: SafeResolver | None = None

    async def __aenter__(self) -> HttpClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Create the session; idempotent. Must run inside the event loop that will use it."""
        if self._session is not None and not self._session.closed:
            return
        resolver = SafeResolver(self.policy, self._inner_resolver or aiohttp.DefaultResolver())
        connector = aiohttp.TCPConnector(
            limit=100,
            limit_per_host=8,
            ttl_dns_cache=300,
            resolver=resolver,
            # A fresh default context honours SSL_CERT_FILE at start-up (aiohttp's own is built at import).
            ssl=self._ssl_context if self._ssl_context is not None else ssl.create_default_context(),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self.user_agent},
            timeout=aiohttp.ClientTimeout(total=self._timeout, sock_connect=self._timeout),
            cookie_jar=aiohttp.DummyCookieJar(),  # never carry one server's cookies to another
            trust_env=False,  # an HTTP(S)_PROXY variable must not bypass the address policy
            auto_decompress=True,
        )
        self._resolver = resolver

    async def close(self) -> None:
        """Close the session and the resolver; safe to call twice."""
        session, self._session = self._session, None
        resolver, self._resolver = self._resolver, None
        if session is not None:
            await session.close()
        if resolver is not None:
            await resolver.close()

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            await self.start()
        assert self._session is not None
        return self._session

    # ---- public API -------------------------------------------------------------------------

    async def get_json(
        self,
        url: str,
        *,
        signer: tuple[str, str] | None = None,
        accept: str = AS_ACCEPT,
        max_bytes: int = 2_000_000,
    ) -> dict[str, Any]:
        """GET a JSON object (ActivityStreams by default), optionally signed with (key_id, pem).

        Follows up to MAX_REDIRECTS redirects, re-checking the policy on each hop. 410 Gone
        raises FetchError(status=410, permanent=True) so callers can forget deleted actors.
        """
        final_url, _content_type, body = await self._get(url, accept, max_bytes, signer, JSON_CONTENT_TYPES)
        return decode_json(final_url, body)

    async def get_text(
        self,
        url: str,
        accept: str = TEXT_ACCEPT,
        max_bytes: int = 1_000_000,
        *,
        signer: tuple[str, str] | None = None,
    ) -> str:
        """GET a non-JSON document (host-meta XML, HTML) under the same policy as get_json."""
        _final_url, content_type, body = await self._get(url, accept, max_bytes, signer, None)
        charset = charset_of(content_type) or "utf-8"
        try:
            return body.decode(charset, errors="replace")
        except LookupError:
            return body.decode("utf-8", errors="replace")

    async def post_signed(
        self,
        url: str,
        body: bytes,
        *,
        key_id: str,
        private_key_pem: str,
        content_type: str = "application/activity+json",
    ) -> int:
        """Deliver `body` with an HTTP signature; return the 2xx status, else raise FetchError.

        Redirects are not followed: a signature covers the target, and an inbox that redirects
        is misconfigured. The error says whether to retry and carries Retry-After.
        """
        target = self.policy.check_url(url)
        target_text = str(target)
        headers = self._sign(
            "POST",
            target_text,
            {"Content-Type": content_type, "Accept": AS_ACCEPT},
            (key_id, private_key_pem),
            body,
        )
        session = await self._get_session()
        try:
            async with asyncio.timeout(self._timeout):
                with translate_errors(target_text):
                    async with session.post(
                        target, data=body, headers=headers, allow_redirects=False
                    ) as response:
                        detail = await drain(response, POST_RESPONSE_LIMIT)
                        if 200 <= response.status < 300:
                            return response.status
                        raise status_error(target_text, response, detail.decode("utf-8", "replace"))
        except TimeoutError as exc:
            raise FetchError(target_text, f"timed out after {self._timeout:g}s") from exc

    # ---- internals --------------------------------------------------------------------------

    def _sign(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        signer: tuple[str, str] | None,
        body: bytes | None = None,
    ) -> dict[str, str]:
        """Headers to send, with an HTTP signature when a (key_id, pem) signer is given."""
        if signer is None:
            return dict(headers)
        # Imported lazily: signatures.py pulls in crypto code and must not be an import-time
        # dependency of this module.
        from fediverse.signatures import sign_request

        key_id, private_key_pem = signer
        signed = sign_request(
            method, url, key_id=key_id, private_key_pem=private_key_pem, body=body, headers=headers
        )
        return merge_headers(headers, signed)

    async def _get(
        self,
        url: str,
        accept: str,
        max_bytes: int,
        signer: tuple[str, str] | None,
        content_types: frozenset[str] | None,
    ) -> tuple[str, str, bytes]:
        """GET with manual redirects inside one overall deadline: (final url, content type, body)."""
        current = self.policy.check_url(url)
        try:
            async with asyncio.timeout(self._timeout):
                return await self._follow(current, accept, max_bytes, signer, content_types)
        except TimeoutError as exc:
            raise FetchError(str(current), f"timed out after {self._timeout:g}s") from exc

    async def _follow(
        self,
        current: URL,
        accept: str,
        max_bytes: int,
        signer: tuple[str, str] | None,
        content_types: frozenset[str] | None,
    ) -> tuple[str, str, bytes]:
        session = await self._get_session()
        for _hop in range(MAX_REDIRECTS + 1):
            current_text = str(current)
            headers = self._sign("GET", current_text, {"Accept": accept}, signer)
            with translate_errors(current_text):
                async with session.get(current, headers=headers, allow_redirects=False) as response:
                    if response.status in REDIRECT_STATUSES:
                        current = self._redirect_target(current, response)
                        continue
                    if not 200 <= response.status < 300:
                        raise status_error(current_text, response)
                    content_type = check_content_type(response, current_text, content_types)
                    body = await read_capped(response, current_text, max_bytes)
                    return current_text, content_type, body
        raise FetchError(str(current), f"more than {MAX_REDIRECTS} redirects", permanent=True)

    def _redirect_target(self, current: URL, response: aiohttp.ClientResponse) -> URL:
        """Resolve and re-validate a Location header (it is as untrusted as the first URL)."""
        location = response.headers.get("Location")
        if not location:
            raise FetchError(
                str(current),
                f"HTTP {response.status} redirect without Location",
                status=response.status,
                permanent=True,
            )
        try:
            target = current.join(URL(location))
        except (ValueError, TypeError) as exc:
            raise FetchError(
                str(current),
                f"invalid redirect Location {location[:200]!r}",
                status=response.status,
                permanent=True,
            ) from exc
        return self.policy.check_url(target)
