"""Which hosts and addresses the server may reach: host normalisation, private and reserved
address ranges, the URL and address policy, and the DNS resolver that enforces it at connect time."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable

import idna  # yarl's own IDNA library: we must punycode hosts exactly as yarl/aiohttp will
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from fediverse.config import Settings
from fediverse.http.errors import FetchError, RefusedAddress

MAX_URL_LENGTH = 2048


_ALLOWED_SCHEMES_SECURE = frozenset({"https"})
_ALLOWED_SCHEMES_INSECURE = frozenset({"https", "http"})
_LABEL_RE = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# A last label that is numeric (or hex) means an IP address in a legacy spelling such as
# 127.1, 0x7f.1 or 2130706433: socket libraries would happily connect there.
_NUMERIC_LABEL_RE = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
                raise RefusedAddress(host, message, permanent=True)
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
