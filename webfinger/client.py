"""Turn a fediverse handle (`user@domain`) into an ActivityPub actor URI via WebFinger.

People type handles, servers speak actor URIs: this is the bridge used by search, follow and
mention parsing. Handles come from user input and remote content, so they are validated
strictly before any request (no path, query or credentials can be smuggled into the URL), and
the JRD answer is treated as untrusted: only a `self` link with an ActivityStreams type and an
https URL is accepted.

The returned URI is only a pointer. Callers must fetch the actor document and trust its `id`,
not this answer (a WebFinger host may legitimately delegate to another domain).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

from actors.accounts import find_local_actor
from fediverse.http import normalise_host
from fediverse.runtime import Runtime
from webfinger.routes import answerable

__all__ = ["JRD_ACCEPT", "WebFingerError", "actor_uri_from_jrd", "parse_handle", "resolve_handle"]

JRD_ACCEPT = "application/jrd+json, application/json"
AS_PROFILES = frozenset({"https://www.w3.org/ns/activitystreams", "http://www.w3.org/ns/activitystreams"})
MAX_HANDLE_LENGTH = 512
MAX_HREF_LENGTH = 2048
JRD_MAX_BYTES = 256 * 1024

# RFC 7565 userpart characters (unreserved, sub-delims, pct-encoded), plus Unicode letters and
# digits (`\w`) which some servers allow. Never '/', '?', '#', '@', ':' or whitespace.
_USER_RE = re.compile(r"[\w.~!$&'()*+,;=%-]{1,255}")
_PORT_RE = re.compile(r"[0-9]{1,5}")


class WebFingerError(ValueError):
    """The handle is malformed, or its WebFinger answer names no usable actor.

    Network and HTTP failures are not wrapped: they surface as `fediverse.http.FetchError`,
    whose `permanent` flag tells callers whether trying again later can help.
    """


def _split_domain(domain: str) -> tuple[str, str]:
    """(host, port) of `host[:port]` or `[v6]:port`; port is '' when absent."""
    if domain.startswith("["):
        end = domain.find("]")
        if end < 0:
            raise WebFingerError(f"invalid domain {domain!r}")
        host, rest = domain[: end + 1], domain[end + 1 :]
        if rest and not rest.startswith(":"):
            raise WebFingerError(f"invalid domain {domain!r}")
        return host, rest[1:]
    host, _, port = domain.partition(":")
    return host, port


def parse_handle(handle: str) -> tuple[str, str]:
    """Validate `user@domain`, `@user@domain` or `acct:user@domain`; return (user, domain).

    The domain comes back normalised (lowercase, punycode, port kept) because it becomes the
    host we connect to and the `acct:` resource we ask for; the user part keeps its case.
    """
    if not isinstance(handle, str):
        raise WebFingerError("handle must be a string")
    text = handle.strip()
    if len(text) > MAX_HANDLE_LENGTH:
        raise WebFingerError("handle is too long")
    if text[:5].lower() == "acct:":
        text = text[5:]
    text = text.removeprefix("@")
    user, sep, domain = text.partition("@")
    if not sep or not user or not domain or "@" in domain:
        raise WebFingerError(f"{handle!r} is not a handle of the form user@domain")
    if not _USER_RE.fullmatch(user):
        raise WebFingerError(f"invalid user name in handle {handle!r}")
    host, port = _split_domain(domain)
    if port and (not _PORT_RE.fullmatch(port) or not 0 < int(port) <= 65535):
        raise WebFingerError(f"invalid port in handle {handle!r}")
    if any(ch.isspace() or ch in "/?#\\%" for ch in host):
        raise WebFingerError(f"invalid domain in handle {handle!r}")
    try:
        host = normalise_host(host)
    except ValueError as exc:
        raise WebFingerError(f"invalid domain in handle {handle!r}: {exc}") from exc
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return user, f"{host}:{port}" if port else host


def _media_type_is_activitystreams(value: Any) -> bool:
    """application/activity+json, or application/ld+json with the ActivityStreams profile."""
    if not isinstance(value, str):
        return False
    base, *params = value.split(";")
    base = base.strip().lower()
    if base == "application/activity+json":
        return True
    if base != "application/ld+json":
        return False
    for param in params:
        name, _, raw = param.partition("=")
        if name.strip().lower() == "profile":
            profiles = raw.strip().strip('"').split()
            return any(profile in AS_PROFILES for profile in profiles)
    return False


def _href_acceptable(href: Any, insecure_http: bool) -> bool:
    """An absolute https URL (http only when the instance runs in insecure test mode)."""
    if not isinstance(href, str) or not href or len(href) > MAX_HREF_LENGTH:
        return False
    if any(ch.isspace() for ch in href):
        return False
    try:
        parts = urlsplit(href)
        parts.port  # noqa: B018 - raises ValueError for a garbled port
    except ValueError:
        return False
    schemes = ("https", "http") if insecure_http else ("https",)
    return parts.scheme.lower() in schemes and bool(parts.hostname)


def actor_uri_from_jrd(document: Any, *, insecure_http: bool = False) -> str:
    """The actor URI in a JRD: the `self` link typed as ActivityStreams with an https href."""
    links = document.get("links") if isinstance(document, dict) else None
    if not isinstance(links, list):
        raise WebFingerError("WebFinger answer has no links")
    for link in links:
        if not isinstance(link, dict) or link.get("rel") != "self":
            continue
        if not _media_type_is_activitystreams(link.get("type")):
            continue
        href = link.get("href")
        if _href_acceptable(href, insecure_http):
            return str(href)
    raise WebFingerError("WebFinger answer has no ActivityPub actor link (rel=self, https)")


async def _resolve_local(runtime: Runtime, user: str) -> str:
    """Our own accounts are answered from the database: no HTTP call to ourselves."""
    async with runtime.sessions() as session:
        actor = await find_local_actor(session, user)
    if actor is None or not answerable(runtime.uris, actor):
        raise WebFingerError(f"no local account {user}@{runtime.settings.domain}")
    return actor.uri


async def resolve_handle(runtime: Runtime, handle: str) -> str:
    """Actor URI for a handle, via `https://domain/.well-known/webfinger?resource=acct:...`.

    Raises WebFingerError for a malformed handle or a useless answer, FetchError (from
    `runtime.http`) when the remote cannot be reached or answers with an error status.
    """
    user, domain = parse_handle(handle)
    if domain == runtime.settings.domain:
        return await _resolve_local(runtime, user)
    if runtime.http is None:
        raise RuntimeError("resolve_handle needs runtime.http (the app lifespan creates it)")
    insecure = runtime.settings.insecure_http
    scheme = "http" if insecure else "https"
    resource = quote(f"acct:{user}@{domain}", safe=":@")
    url = f"{scheme}://{domain}/.well-known/webfinger?resource={resource}"
    document = await runtime.http.get_json(url, accept=JRD_ACCEPT, max_bytes=JRD_MAX_BYTES)
    return actor_uri_from_jrd(document, insecure_http=insecure)
