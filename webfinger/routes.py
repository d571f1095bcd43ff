"""Discovery endpoints: WebFinger (RFC 7033), host-meta (RFC 6415) and NodeInfo 2.0/2.1.

These are the first documents another server or a crawler reads about us, so they answer only
for *our* local accounts (never for remote actors cached in our database, which would let us
vouch for identities we do not own), never 500 on odd input, and send
`Access-Control-Allow-Origin: *` because browser-based clients (web apps, fediverse
explorers) read them cross-origin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from sqlalchemy import and_, case, exists, func, or_, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import fediverse
from actors.accounts import find_local_actor
from actors.neighbours import APPLICATION_ACTOR_REL
from actors.territory import commune_codes, get_territory
from fediverse import SOFTWARE_NAME, __version__
from fediverse.config import Settings
from fediverse.ids import id_floor
from fediverse.models import Actor, Status, User
from fediverse.runtime import Runtime
from fediverse.uris import USERNAME_RE, Uris

__all__ = [
    "ACTIVITY_JSON",
    "JRD_CONTENT_TYPE",
    "NODEINFO_SCHEMAS",
    "PROFILE_PAGE_REL",
    "SUBSCRIBE_REL",
    "TerritorySummary",
    "WebFingerLookupError",
    "answerable",
    "count_usage",
    "jrd_for",
    "load_territory",
    "nodeinfo_document",
    "parse_resource",
    "routes",
]

JRD_CONTENT_TYPE = "application/jrd+json; charset=utf-8"
XRD_CONTENT_TYPE = "application/xrd+xml; charset=utf-8"
XRD_NAMESPACE = "http://docs.oasis-open.org/ns/xri/xrd-1.0"
ACTIVITY_JSON = "application/activity+json"
PROFILE_PAGE_REL = "http://webfinger.net/rel/profile-page"
SUBSCRIBE_REL = "http://ostatus.org/schema/1.0/subscribe"
NODEINFO_REL_PREFIX = "http://nodeinfo.diaspora.software/ns/schema/"
NODEINFO_SCHEMAS = ("2.0", "2.1")
MAX_RESOURCE_LENGTH = 2048
ACTIVE_MONTH = timedelta(days=30)
ACTIVE_HALFYEAR = timedelta(days=180)

# Remote servers re-query WebFinger on every mention/follow; a modest shared-cache lifetime
# takes load off us without making a renamed or deleted account linger for long.
WEBFINGER_CACHE = "public, max-age=3600"
HOST_META_CACHE = "public, max-age=86400"
NODEINFO_CACHE = "public, max-age=1800"
CORS = {"Access-Control-Allow-Origin": "*"}

_PROFILE_PATH_RE = re.compile(r"/@([^/]+)")


class WebFingerLookupError(Exception):
    """Why a resource cannot be answered; `status` is 400 (garbled) or 404 (not ours/unknown)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class _Resource:
    """A resource reduced to the local username it designates (the domain for the instance actor)."""

    username: str
    by_profile_url: bool = False


def _error(status: int, message: str) -> JSONResponse:
    """JSON error that browser clients can still read (CORS), and that no cache keeps."""
    return JSONResponse({"error": message}, status_code=status, headers={**CORS, "Cache-Control": "no-store"})


def _is_our_domain(settings: Settings, domain: str) -> bool:
    """Exact (case-insensitive) match on the configured domain, port included.

    `localhost` is not `localhost:8000`: handles carry the full domain and a port-less
    host may be another server on the same machine.
    """
    return domain.strip().lower().rstrip(".") == settings.domain


def _parse_acct(settings: Settings, text: str) -> _Resource:
    """`user@domain` (the `acct:` scheme and a leading `@` already removed)."""
    user, sep, domain = text.rpartition("@")
    if not sep or not user or not domain or "/" in text or any(ch.isspace() for ch in text):
        raise WebFingerLookupError(400, "resource must look like acct:user@domain")
    if not _is_our_domain(settings, domain):
        raise WebFingerLookupError(404, f"{domain} is not this server")
    return _Resource(user)


def _parse_url(uris: Uris, text: str) -> _Resource:
    """One of our actor URIs (`/users/NAME`, the instance actor) or profile pages (`/@NAME`)."""
    try:
        parts = urlsplit(text)
        netloc = parts.netloc
    except ValueError as exc:
        raise WebFingerLookupError(400, "resource is not a valid URL") from exc
    if parts.scheme not in ("http", "https") or not netloc:
        raise WebFingerLookupError(400, "resource is not a valid URL")
    if not uris.is_local(text):
        raise WebFingerLookupError(404, "resource is not on this server")
    username = uris.parse_actor(text)
    if username is not None:
        return _Resource(username)
    match = _PROFILE_PATH_RE.fullmatch(parts.path)
    if match:
        return _Resource(match.group(1), by_profile_url=True)
    raise WebFingerLookupError(404, "resource is not an account on this server")


def parse_resource(uris: Uris, resource: str | None) -> str:
    """Local username designated by a WebFinger `resource`, or WebFingerLookupError (400/404).

    Accepts `acct:user@domain`, bare `user@domain` / `@user@domain` (some clients omit the
    scheme), and our actor or profile-page URLs. The instance actor's username is the domain.
    """
    text = (resource or "").strip()
    if not text:
        raise WebFingerLookupError(400, "missing resource parameter")
    if len(text) > MAX_RESOURCE_LENGTH:
        raise WebFingerLookupError(400, "resource parameter too long")
    lowered = text.lower()
    if lowered.startswith(("https://", "http://")):
        parsed = _parse_url(uris, text)
    else:
        if lowered.startswith("acct:"):
            text = text[len("acct:"):]
        parsed = _parse_acct(uris.settings, text.removeprefix("@"))
    username = parsed.username
    if username.lower() != uris.settings.domain and not USERNAME_RE.match(username):
        raise WebFingerLookupError(404, "no such account")
    if parsed.by_profile_url and username.lower() == uris.settings.domain:
        # The instance actor's page is /about; /@<domain> designates nobody.
        raise WebFingerLookupError(404, "no such account")
    return username


def answerable(uris: Uris, actor: Actor | None) -> bool:
    """Only live local accounts (and the real instance actor) get a WebFinger answer."""
    if actor is None or actor.domain is not None or actor.domain_key != "":
        return False
    if actor.suspended_at is not None or actor.deleted_at is not None:
        return False
    if actor.username_lower == uris.settings.domain:
        return actor.uri == uris.instance_actor()
    return True


def jrd_for(uris: Uris, actor: Actor) -> dict[str, Any]:
    """The JRD for one local actor, in the shape Mastodon and friends expect."""
    profile = actor.url or uris.profile_page(actor.username)
    return {
        "subject": f"acct:{actor.username}@{uris.settings.domain}",
        "aliases": [actor.uri, profile],
        "links": [
            {"rel": "self", "type": ACTIVITY_JSON, "href": actor.uri},
            {"rel": PROFILE_PAGE_REL, "type": "text/html", "href": profile},
            {"rel": SUBSCRIBE_REL, "template": f"{uris.base}/authorize_interaction?uri={{uri}}"},
        ],
    }


RELAY_ALIAS = "relay"


async def webfinger(request: Request) -> Response:
    """GET /.well-known/webfinger?resource=... (the `rel` filter is optional in RFC 7033; ignored)."""
    runtime: Runtime = request.app.state.runtime
    try:
        username = parse_resource(runtime.uris, request.query_params.get("resource"))
    except WebFingerLookupError as exc:
        return _error(exc.status, exc.message)
    # Mobilizon subscribes to an instance through `relay@host`; ours is the instance actor.
    relay_alias = username.lower() == RELAY_ALIAS
    async with runtime.sessions() as session:
        actor = await find_local_actor(session, runtime.settings.domain if relay_alias else username)
    if not answerable(runtime.uris, actor):
        return _error(404, "no such account")
    assert actor is not None
    jrd = jrd_for(runtime.uris, actor)
    if relay_alias:
        jrd["subject"] = f"acct:{RELAY_ALIAS}@{runtime.settings.domain}"
    return JSONResponse(
        jrd,
        media_type=JRD_CONTENT_TYPE,
        headers={**CORS, "Cache-Control": WEBFINGER_CACHE},
    )


def _lrdd_template(settings: Settings) -> str:
    return f"{settings.base_url}/.well-known/webfinger?resource={{uri}}"


async def host_meta(request: Request) -> Response:
    """GET /.well-known/host-meta: XRD pointing at WebFinger (older OStatus/diaspora clients)."""
    runtime: Runtime = request.app.state.runtime
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<XRD xmlns="{XRD_NAMESPACE}">\n'
        f'  <Link rel="lrdd" template={quoteattr(_lrdd_template(runtime.settings))}/>\n'
        "</XRD>\n"
    )
    return Response(body, media_type=XRD_CONTENT_TYPE, headers={**CORS, "Cache-Control": HOST_META_CACHE})


async def host_meta_json(request: Request) -> Response:
    """GET /.well-known/host-meta.json: the JSON (JRD) form of host-meta."""
    runtime: Runtime = request.app.state.runtime
    document = {"links": [{"rel": "lrdd", "template": _lrdd_template(runtime.settings)}]}
    return JSONResponse(document, headers={**CORS, "Cache-Control": HOST_META_CACHE})


# ---------------------------------------------------------------------------------------------
# NodeInfo
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """The NodeInfo `usage` numbers."""

    total: int
    active_month: int
    active_halfyear: int
    local_posts: int


async def count_usage(runtime: Runtime, now: datetime | None = None) -> Usage:
    """Two aggregate queries: account totals/activity, and local posts.

    Users are local accounts that can log in (a `users` row, so the instance actor is out),
    not suspended, deleted or awaiting approval. "Active" means logged in, or posted, within
    the window; the "posted" probe uses the time-ordered ids on the (actor_id, id) index.
    """
    now = now or datetime.now(UTC)

    def active_since(delta: timedelta) -> Any:
        cutoff = now - delta
        posted = exists().where(
            Status.actor_id == Actor.id,
            Status.local.is_(True),
            Status.id >= id_floor(cutoff.timestamp()),
        )
        return func.coalesce(func.sum(case((or_(User.last_login_at >= cutoff, posted), 1), else_=0)), 0)

    users_query = (
        select(func.count(), active_since(ACTIVE_MONTH), active_since(ACTIVE_HALFYEAR))
        .select_from(User)
        .join(Actor, Actor.id == User.actor_id)
        .where(
            Actor.domain.is_(None),
            Actor.actor_type != "Application",
            Actor.suspended_at.is_(None),
            Actor.deleted_at.is_(None),
            User.approved.is_(True),
        )
    )
    posts_query = select(func.count()).select_from(Status).where(
        and_(Status.local.is_(True), Status.reblog_of_id.is_(None))
    )
    async with runtime.sessions() as session:
        total, month, halfyear = (await session.execute(users_query)).one()
        posts = await session.scalar(posts_query)
    return Usage(int(total or 0), int(month or 0), int(halfyear or 0), int(posts or 0))


def _software(version: str) -> dict[str, str]:
    """`software` block; 2.1 adds repository/homepage when the project declares them."""
    software = {"name": SOFTWARE_NAME, "version": __version__}
    if version == "2.1":
        for key, attr in (("repository", "SOFTWARE_REPOSITORY"), ("homepage", "SOFTWARE_HOMEPAGE")):
            value = getattr(fediverse, attr, "")
            if value:
                software[key] = str(value)
    return software


@dataclass(frozen=True)
class TerritorySummary:
    """What NodeInfo says about the territory (from `fediverse territory init/import`)."""

    name: str
    kind: str
    communes: list[str]


async def load_territory(runtime: Runtime) -> TerritorySummary | None:
    """The Territory row and its INSEE codes, or None before `fediverse territory init`."""
    async with runtime.sessions() as session:
        territory = await get_territory(session)
        if territory is None:
            return None
        return TerritorySummary(territory.name, territory.kind, await commune_codes(session))


def _territory_metadata(settings: Settings, node_name: str, territory: TerritorySummary | None) -> dict[str, Any]:
    if territory is None:
        return {"name": settings.territory_name or node_name}
    return {"name": territory.name, "kind": territory.kind,
            "communes": {"count": len(territory.communes), "insee": territory.communes}}


def nodeinfo_document(settings: Settings, usage: Usage, version: str,
                      territory: TerritorySummary | None = None) -> dict[str, Any]:
    """A NodeInfo document of schema `version` (2.0 or 2.1).

    `metadata.territory` names the territory from the database once it is set up, with its kind
    and INSEE codes; before that, the configured territory name (or the node name).
    """
    node_name = settings.instance_name or settings.domain
    return {
        "version": version,
        "software": _software(version),
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": settings.registration == "open",
        "usage": {
            "users": {
                "total": usage.total,
                "activeMonth": usage.active_month,
                "activeHalfyear": usage.active_halfyear,
            },
            "localPosts": usage.local_posts,
        },
        "metadata": {
            "nodeName": node_name,
            "territory": _territory_metadata(settings, node_name, territory),
            "language": settings.language,
        },
    }


async def nodeinfo_discovery(request: Request) -> Response:
    """GET /.well-known/nodeinfo: links to every schema version we serve."""
    runtime: Runtime = request.app.state.runtime
    base = runtime.settings.base_url
    links = [{"rel": NODEINFO_REL_PREFIX + v, "href": f"{base}/nodeinfo/{v}"} for v in NODEINFO_SCHEMAS]
    # FEP-2677: where the instance actor (neighbours, relays, signed fetches) lives.
    links.append({"rel": APPLICATION_ACTOR_REL, "href": runtime.uris.instance_actor()})
    return JSONResponse({"links": links}, headers={**CORS, "Cache-Control": NODEINFO_CACHE})


async def nodeinfo(request: Request) -> Response:
    """GET /nodeinfo/2.0 and /nodeinfo/2.1, with the schema profile in the Content-Type."""
    runtime: Runtime = request.app.state.runtime
    version = request.path_params["version"]
    if version not in NODEINFO_SCHEMAS:
        return _error(404, "unknown NodeInfo schema version")
    usage = await count_usage(runtime)
    territory = await load_territory(runtime)
    media_type = f'application/json; profile="{NODEINFO_REL_PREFIX}{version}#"'
    return JSONResponse(
        nodeinfo_document(runtime.settings, usage, version, territory),
        media_type=media_type,
        headers={**CORS, "Cache-Control": NODEINFO_CACHE},
    )


routes: list[Route] = [
    Route("/.well-known/webfinger", webfinger, methods=["GET"]),
    Route("/.well-known/host-meta", host_meta, methods=["GET"]),
    Route("/.well-known/host-meta.json", host_meta_json, methods=["GET"]),
    Route("/.well-known/nodeinfo", nodeinfo_discovery, methods=["GET"]),
    Route("/nodeinfo/{version:str}", nodeinfo, methods=["GET"]),
]
