"""The one outbound HTTP client of the server, built for talking to untrusted remote servers.

Every URL we fetch comes from somebody else's JSON (actor ids, inboxes, redirects, attachments),
so a naive client is a server-side request forgery tool: a remote actor could make us call our
own admin port, the cloud metadata service or a database on the private network. The defences:

* a URL policy (scheme, no userinfo, normalised host, length) checked before the first request
  and again on every redirect hop, since redirects are followed by hand;
* an address policy enforced *inside* the DNS resolver, so the address that is checked is the
  address that is connected to (no DNS-rebinding window between check and connect), and on IP
  literals, which aiohttp never sends through the resolver;
* hard caps on time, body size and JSON nesting, so a hostile server cannot pin a worker or
  exhaust memory.

Errors surface as a single `FetchError` that says whether retrying can help (`permanent`) and
how long the remote asked us to wait (`retry_after`), which is what delivery queues need.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ipaddress
import json
import re
import socket
import ssl
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import aiohttp
import idna  # yarl's own IDNA library: we must punycode hosts exactly as yarl/aiohttp will
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from fediverse.config import Settings

__all__ = [
    "AS_ACCEPT",
    "JSON_CONTENT_TYPES",
    "AddressPolicy",
    "FetchError",
    "HttpClient",
    "SafeResolver",
    "is_permanent_status",
    "is_private_address",
    "json_too_deep",
    "normalise_host",
    "parse_retry_after",
]

AS_ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
JSON_CONTENT_TYPES = frozenset(
    {"application/activity+json", "application/ld+json", "application/json", "application/jrd+json"}
)
TEXT_ACCEPT = "application/xrd+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"

MAX_URL_LENGTH = 2048
MAX_REDIRECTS = 3
MAX_JSON_DEPTH = 100
POST_RESPONSE_LIMIT = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# 408 and 429 are client-side codes that nevertheless mean "try again later".
RETRYABLE_CLIENT_STATUSES = frozenset({408, 429})

_ALLOWED_SCHEMES_SECURE = frozenset({"https"})
_ALLOWED_SCHEMES_INSECURE = frozenset({"https", "http"})
_LABEL_RE = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# A last label that is numeric (or hex) means an IP address in a legacy spelling such as
# 127.1, 0x7f.1 or 2130706433: socket libraries would happily connect there.
_NUMERIC_LABEL_RE = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
_RETRY_AFTER_SECONDS_RE = re.compile(r"[0-9]{1,10}")
_CHUNK_SIZE = 64 * 1024

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class FetchError(Exception):
    """A remote fetch or delivery failed; `permanent` tells queues whether a retry can help.

    `status` is the HTTP status when the server answered, `retry_after` the delay (seconds) it
    asked for in a Retry-After header, if any.
    """

    def __init__(
        self,
        url: str,
        message: str,
        *,
        status: int | None = None,
        permanent: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.url = url
        self.message = message
        self.status = status
        self.permanent = permanent
        self.retry_after = retry_after
        super().__init__(f"{message} [{url}]")


class _RefusedAddress(FetchError):
    """Raised by the resolver, which only knows the host; the client re-raises it with the URL."""


# --------------------------------------------------------------------------------------------
# Host and address helpers (also used by the inbox for look-alike host checks)
# --------------------------------------------------------------------------------------------


def _parse_ip(text: str) -> Address | None:
    """The address if `text` is a canonical IPv4/IPv6 literal (brackets allowed), else None."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _idna_encode(host: str) -> str:
    """Punycode a Unicode host exactly as yarl (hence aiohttp) does, so we check what we connect to.

    IDNA 2008 with UTS #46 mapping first (what browsers use), then the stdlib IDNA 2003 codec
    (`encodings.idna`) for names the stricter rules refuse.
    """
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except UnicodeError:  # idna.IDNAError is a UnicodeError
        return host.encode("idna").decode("ascii")


def normalise_host(host: str) -> str:
    """Canonical ASCII form of a host, so that comparisons and allowlists cannot be dodged.

    Lowercases, strips the trailing dot of fully-qualified names, turns IDN into punycode and
    prints IP literals in their compressed form (without brackets). Raises ValueError for
    something that is not a usable host name, including legacy numeric IPv4 spellings
    (``127.1``, ``0x7f000001``) that resolvers would silently map onto an address.
    """
    text = host.strip()
    address = _parse_ip(text)
    if address is not None:
        return str(address)
    text = text.rstrip(".")
    if not text:
        raise ValueError(f"empty host name {host!r}")
    try:
        ascii_host = text.lower() if text.isascii() else _idna_encode(text)
        ascii_host = ascii_host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValueError(f"invalid host name {host!r}: {exc}") from exc
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise ValueError(f"invalid host name {host!r}")
    if _NUMERIC_LABEL_RE.fullmatch(labels[-1]):
        raise ValueError(f"{host!r} is not a canonical IP address")
    return ascii_host


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels to (mapped, 6to4, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


def _address_is_private(address: Address) -> bool:
    """True for anything that is not a plain public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return _address_is_private(embedded)
    return (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    )


def is_private_address(ip: str) -> bool:
    """Whether an IP literal is loopback/private/link-local/multicast/reserved/unspecified.

    IPv4-mapped, 6to4 and NAT64 IPv6 addresses are judged by the IPv4 address they reach.
    Accepts brackets and IPv6 zone ids. Raises ValueError when `ip` is not an IP address.
    """
    text = ip.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return _address_is_private(ipaddress.ip_address(text))


def is_permanent_status(status: int) -> bool:
    """4xx means "do not retry", except 408 (timeout) and 429 (rate limited)."""
    return 400 <= status < 500 and status not in RETRYABLE_CLIENT_STATUSES


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), None if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    if _RETRY_AFTER_SECONDS_RE.fullmatch(text):
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def json_too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Iteratively check nesting so that later recursive code (JSON-LD, our handlers) is safe."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header value, lowercased."""
    return (content_type or "").split(";", 1)[0].strip().lower()


# --------------------------------------------------------------------------------------------
# URL and address policy
# --------------------------------------------------------------------------------------------


class AddressPolicy:
    """Decides which URLs and resolved addresses the server may reach.

    Private addresses are refused unless the requested host name, or the address itself for
    CIDR/IP entries, is listed in `settings.allowed_private_hosts` (tests, LAN deployments).
    """

    def __init__(self, settings: Settings) -> None:
        self.insecure_http = settings.insecure_http
        self.allowed_names: frozenset[str] = frozenset()
        self.allowed_networks: tuple[Network, ...] = ()
        self._load_allowlist(settings.allowed_private_hosts)

    def _load_allowlist(self, entries: Iterable[str]) -> None:
        names: set[str] = set()
        networks: list[Network] = []
        for entry in entries:
            text = entry.strip()
            if text.count(":") == 1:  # tolerate "host:port" and "1.2.3.4:port"; IPv6 has more colons
                text = text.split(":", 1)[0]
            try:
                networks.append(ipaddress.ip_network(text.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            try:
                names.add(normalise_host(text))
            except ValueError:
                continue
        self.allowed_names = frozenset(names)
        self.allowed_networks = tuple(networks)

    def address_allowed(self, host: str, ip: str) -> bool:
        """True when `ip` may be contacted for a request to `host`."""
        address = _parse_ip(ip.split("%", 1)[0])
        if address is None:
            return False
        if not _address_is_private(address):
            return True
        if any(address.version == net.version and address in net for net in self.allowed_networks):
            return True
        try:
            return normalise_host(host) in self.allowed_names
        except ValueError:
            return False

    def check_address(self, host: str, ip: str, url: str | None = None) -> None:
        """Raise a permanent FetchError unless `ip` may be contacted for `host`."""
        if not self.address_allowed(host, ip):
            message = (
                f"refusing to connect to private address {ip} (host {host!r} is not in allowed_private_hosts)"
            )
            if url is None:
                raise _RefusedAddress(host, message, permanent=True)
            raise FetchError(url, message, permanent=True)

    def check_url(self, url: str | URL) -> URL:
        """Validate `url` and return the normalised URL object that must be used for the request."""
        text = str(url)
        if len(text) > MAX_URL_LENGTH:
            raise FetchError(
                text[:100] + "...", f"URL longer than {MAX_URL_LENGTH} characters", permanent=True
            )
        if any(ch <= " " or ch in "\\\x7f" for ch in text):
            raise FetchError(
                text, "URL contains whitespace, control characters or backslashes", permanent=True
            )
        try:
            parsed = url if isinstance(url, URL) else URL(text)
            return self._check_parsed(text, parsed)
        except (ValueError, TypeError, UnicodeError) as exc:
            raise FetchError(text, f"invalid URL: {exc}", permanent=True) from exc

    def _check_parsed(self, text: str, parsed: URL) -> URL:
        schemes = _ALLOWED_SCHEMES_INSECURE if self.insecure_http else _ALLOWED_SCHEMES_SECURE
        if parsed.scheme not in schemes:
            raise FetchError(text, f"scheme {parsed.scheme!r} not allowed (use https)", permanent=True)
        if parsed.user is not None or parsed.password is not None:
            raise FetchError(text, "URLs with credentials (userinfo) are not allowed", permanent=True)
        if not parsed.is_absolute() or not parsed.raw_host:
            raise FetchError(text, "URL has no host", permanent=True)
        host = normalise_host(parsed.raw_host)
        if _parse_ip(host) is not None:
            self.check_address(host, host, text)
        parsed.port  # noqa: B018 - raises ValueError for an out-of-range port
        return parsed.with_host(host).with_fragment(None)


class SafeResolver(AbstractResolver):
    """Resolver wrapper that refuses private addresses, so checking and connecting cannot diverge.

    aiohttp connects only to the addresses this returns, which closes the DNS-rebinding gap a
    separate "resolve, check, then connect" step would leave.
    """

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver) -> None:
        self._policy = policy
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            self._policy.check_address(host, result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _translate_errors(url: str) -> Iterator[None]:
    """Turn aiohttp/socket/timeout errors into FetchError with the right `permanent` flag."""
    try:
        yield
    except _RefusedAddress as exc:
        raise FetchError(url, exc.message, permanent=True) from exc
    except FetchError:
        raise
    except aiohttp.InvalidURL as exc:
        raise FetchError(url, f"invalid URL: {exc}", permanent=True) from exc
    except TimeoutError as exc:
        raise FetchError(url, "timed out") from exc
    except (aiohttp.ClientError, OSError) as exc:
        refused = _find_refusal(exc)
        if refused is not None:
            raise FetchError(url, refused.message, permanent=True) from exc
        raise FetchError(url, f"connection failed: {type(exc).__name__}: {exc}") from exc


def _find_refusal(exc: BaseException) -> _RefusedAddress | None:
    """Our resolver's refusal, if aiohttp wrapped it in one of its own exceptions."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, _RefusedAddress):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _status_error(url: str, response: aiohttp.ClientResponse, detail: str = "") -> FetchError:
    """FetchError for a non-success HTTP status, carrying permanence and Retry-After."""
    status = response.status
    reason = "gone" if status == 410 else (response.reason or "error")
    message = f"HTTP {status} {reason}"
    if detail:
        message += f": {detail[:200]!r}"
    return FetchError(
        url,
        message,
        status=status,
        permanent=is_permanent_status(status),
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


async def _read_capped(response: aiohttp.ClientResponse, url: str, max_bytes: int) -> bytes:
    """Read the body, aborting (and closing the connection) as soon as it exceeds `max_bytes`."""
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        response.close()
        raise FetchError(
            url,
            f"response body of {declared} bytes exceeds the {max_bytes} byte limit",
            status=response.status,
            permanent=True,
        )
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.content.iter_chunked(_CHUNK_SIZE):
        total += len(chunk)
        if total > max_bytes:
            response.close()
            raise FetchError(
                url,
                f"response body exceeds the {max_bytes} byte limit",
                status=response.status,
                permanent=True,
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def _drain(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Read at most `limit` bytes of a response we barely care about; drop the rest with the socket."""
    data = await response.content.read(limit)
    if not response.content.at_eof():
        response.close()
    return data


def _check_content_type(response: aiohttp.ClientResponse, url: str, allowed: frozenset[str] | None) -> str:
    """The Content-Type header, refused (before reading the body) if not one of `allowed`."""
    content_type = response.headers.get("Content-Type", "")
    if allowed is not None and _media_type(content_type) not in allowed:
        expected = ", ".join(sorted(allowed))
        raise FetchError(
            url,
            f"unexpected content type {content_type[:100]!r} (expected one of {expected})",
            status=response.status,
            permanent=True,
        )
    return content_type


def _merge_headers(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """`base` overridden by `extra`, case-insensitively (signed headers must win)."""
    lowered = {key.lower() for key in extra}
    merged = {key: value for key, value in base.items() if key.lower() not in lowered}
    merged.update(extra)
    return merged


def _decode_json(url: str, body: bytes) -> dict[str, Any]:
    """Parse a JSON object, refusing other top-level types and absurd nesting."""
    try:
        document = json.loads(body)
    except RecursionError as exc:
        raise FetchError(url, f"JSON nested deeper than {MAX_JSON_DEPTH} levels", permanent=True) from exc
    except ValueError as exc:
        raise FetchError(url, f"invalid JSON: {exc}", permanent=True) from exc
    if not isinstance(document, dict):
        raise FetchError(url, f"expected a JSON object, got {type(document).__name__}", permanent=True)
    if json_too_deep(document):
        raise FetchError(url, f"JSON nested deeper than {MAX_JSON_DEPTH} levels", permanent=True)
    return document


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
        return _decode_json(final_url, body)

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
        charset = _charset(content_type) or "utf-8"
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
                with _translate_errors(target_text):
                    async with session.post(
                        target, data=body, headers=headers, allow_redirects=False
                    ) as response:
                        detail = await _drain(response, POST_RESPONSE_LIMIT)
                        if 200 <= response.status < 300:
                            return response.status
                        raise _status_error(target_text, response, detail.decode("utf-8", "replace"))
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
        return _merge_headers(headers, signed)

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
            with _translate_errors(current_text):
                async with session.get(current, headers=headers, allow_redirects=False) as response:
                    if response.status in REDIRECT_STATUSES:
                        current = self._redirect_target(current, response)
                        continue
                    if not 200 <= response.status < 300:
                        raise _status_error(current_text, response)
                    content_type = _check_content_type(response, current_text, content_types)
                    body = await _read_capped(response, current_text, max_bytes)
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


def _charset(content_type: str) -> str | None:
    """The charset parameter of a Content-Type value, if present."""
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None
