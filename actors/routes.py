"""ActivityPub GET edge: actor documents, their collections, statuses and activities.

Browsers asking for HTML are sent to the profile or status page; ActivityPub clients get JSON.
With FEDIVERSE_AUTHORIZED_FETCH=1 everything but the instance actor needs a signed GET.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, exists, false, func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from actors.groups import is_group, members_only, moderators_url
from actors.groups import moderators as group_moderators
from actors.neighbours import mutual_neighbour_uris
from actors.remote import ActorResolver
from actors.serializers import actor_to_as, instance_actor_to_as
from actors.signed_requests import request_target, verify_signed_request
from actors.territory import get_territory, list_communes
from fediverse.as2 import AS_CONTEXT
from fediverse.models import Actor, Commune, FeaturedStatus, Follow, OutgoingActivity, Status
from fediverse.runtime import Runtime
from fediverse.signatures import SignatureError
from outbox.serializers import create_activity, load_status_parts, status_to_as

PAGE_SIZE = 20
AS_JSON = "application/activity+json; charset=utf-8"


class ActivityJSONResponse(JSONResponse):
    media_type = "application/activity+json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _as_response(doc: dict[str, Any], *, cache: bool = True, request: Request | None = None) -> Response:
    """`request` is given for documents that authorized fetch protects: a response that a signature
    earned must not be kept by a shared cache (many ignore Vary: Signature) and replayed to anyone."""
    headers = {"Vary": "Accept, Signature", "Content-Type": AS_JSON}
    if cache:
        protected = request is not None and request.app.state.runtime.settings.authorized_fetch
        headers["Cache-Control"] = "max-age=60, private" if protected else "max-age=60, public"
    return ActivityJSONResponse(doc, headers=headers)


def wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return "text/html" in accept and "activity+json" not in accept and "ld+json" not in accept


def _not_found(message: str = "not found") -> JSONResponse:
    return JSONResponse({"error": message}, status_code=404)


async def _authorize(request: Request) -> Response | None:
    """401 unless the GET is signed by a remote actor, when authorized fetch is on."""
    runtime: Runtime = request.app.state.runtime
    if not runtime.settings.authorized_fetch:
        return None
    try:
        await verify_signed_request(runtime, ActorResolver(runtime), "GET", request_target(request.scope),
                                    request.headers, None)
    except SignatureError as exc:
        return JSONResponse({"error": f"signed request required: {exc}"}, status_code=401)
    return None


async def _local_actor(runtime: Runtime, username: str) -> Actor | None:
    async with runtime.sessions() as session:
        actor = await session.scalar(select(Actor).where(
            Actor.domain_key == "", Actor.username_lower == username.lower(), Actor.kind != "instance"))
    if actor is None or actor.deleted_at is not None or actor.suspended_at is not None:
        return None
    return actor


async def actor_document(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    actor = await _local_actor(runtime, request.path_params["username"])
    if actor is None:
        return _not_found("no such actor")
    if wants_html(request):
        return RedirectResponse(runtime.uris.profile_page(actor.username), status_code=302)
    if (denied := await _authorize(request)) is not None:
        return denied
    async with runtime.sessions() as session:
        commune = await session.get(Commune, actor.commune_insee) if actor.commune_insee else None
    return _as_response(actor_to_as(actor, runtime.uris, commune), request=request)


async def instance_actor(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        actor = await session.scalar(select(Actor).where(Actor.uri == runtime.uris.instance_actor()))
        territory = await get_territory(session)
        communes = await list_communes(session)
    if actor is None:
        return _not_found()
    return _as_response(instance_actor_to_as(actor, runtime.uris, territory, communes, neighbours=True))


async def _paged(request: Request, collection_id: str, total: int, query: Select[Any], render: Any) -> Response:
    """An OrderedCollection whose pages walk ids downwards with `max_id` (stable under inserts)."""
    if request.query_params.get("page") is None:
        return _as_response({"@context": AS_CONTEXT, "id": collection_id, "type": "OrderedCollection",
                             "totalItems": total, "first": f"{collection_id}?page=true"}, request=request)
    max_id = request.query_params.get("max_id", "")
    # ASCII digits only ("²".isdigit() is true), and small enough for a 64-bit id column.
    if max_id and not (max_id.isascii() and max_id.isdigit() and len(max_id) <= 19 and int(max_id) < 2**63):
        return JSONResponse({"error": "max_id must be a number"}, status_code=400)
    entity = query.column_descriptions[0]["entity"]
    id_column = entity.id
    if max_id:
        query = query.where(id_column < int(max_id))
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        rows = list((await session.scalars(query.order_by(id_column.desc()).limit(PAGE_SIZE + 1))).all())
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        items = [await render(session, row) for row in rows]
    page_id = f"{collection_id}?page=true" + (f"&max_id={max_id}" if max_id else "")
    page: dict[str, Any] = {"@context": AS_CONTEXT, "id": page_id, "type": "OrderedCollectionPage",
                            "partOf": collection_id, "totalItems": total, "orderedItems": items}
    if more:
        page["next"] = f"{collection_id}?page=true&max_id={rows[-1].id}"
    return _as_response(page, request=request)


def _still_published() -> Any:
    """The status a public activity (Create or Announce) brought is still there."""
    return exists().where(Status.activity_uri == OutgoingActivity.uri)


async def _collection_owner(request: Request, collection: str) -> Actor | Response:
    """The local actor whose collection (`outbox_url`, `followers_url`...) is asked for, once the
    request may read it; otherwise the response that refuses it."""
    actor = await _local_actor(request.app.state.runtime, request.path_params["username"])
    if actor is None or not getattr(actor, collection):
        return _not_found("no such actor")
    if (denied := await _authorize(request)) is not None:
        return denied
    return actor


async def _count(runtime: Runtime, model: Any, where: tuple[Any, ...]) -> int:
    async with runtime.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def outbox(request: Request) -> Response:
    actor = await _collection_owner(request, "outbox_url")
    if isinstance(actor, Response):
        return actor
    # Only activities whose status still exists: a deleted post or an undone boost leaves the outbox.
    where = (OutgoingActivity.actor_id == actor.id, OutgoingActivity.public.is_(True), _still_published())
    total = await _count(request.app.state.runtime, OutgoingActivity, where)

    async def render(_session: Any, row: OutgoingActivity) -> Any:
        doc = json.loads(row.body)
        doc.pop("@context", None)
        return doc

    return await _paged(request, actor.outbox_url or "", total, select(OutgoingActivity).where(*where), render)


async def _follow_collection(request: Request, *, followers: bool) -> Response:
    actor = await _collection_owner(request, "followers_url" if followers else "following_url")
    if isinstance(actor, Response):
        return actor
    mine, other = (Follow.followee_id, Follow.follower_id) if followers else (Follow.follower_id, Follow.followee_id)
    where = (mine == actor.id, Follow.state == "accepted")
    total = await _count(request.app.state.runtime, Follow, where)

    async def render(session: Any, row: Follow) -> Any:
        return await session.scalar(select(Actor.uri).where(Actor.id == getattr(row, other.key)))

    collection_id = actor.followers_url if followers else actor.following_url
    query = select(Follow).where(*where)
    if followers and _members_only_group(actor):
        query = query.where(false())  # who belongs to a members-only group is not public
    return await _paged(request, collection_id or "", total, query, render)


async def followers(request: Request) -> Response:
    return await _follow_collection(request, followers=True)


async def following(request: Request) -> Response:
    return await _follow_collection(request, followers=False)


async def featured(request: Request) -> Response:
    actor = await _collection_owner(request, "featured_url")
    if isinstance(actor, Response):
        return actor
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        statuses = (await session.scalars(select(Status).join(FeaturedStatus, FeaturedStatus.status_id == Status.id)
                                          .where(FeaturedStatus.actor_id == actor.id)
                                          .order_by(FeaturedStatus.id.desc()).limit(50))).all()
        statuses = [] if _members_only_group(actor) else statuses
        items = [status_to_as(s, await load_status_parts(session, s), runtime.uris, with_context=False)
                 for s in statuses]
    return _as_response({"@context": AS_CONTEXT, "id": actor.featured_url, "type": "OrderedCollection",
                         "totalItems": len(items), "orderedItems": items}, request=request)


def _members_only_group(actor: Actor) -> bool:
    return is_group(actor) and members_only(actor)


async def group_moderators_collection(request: Request) -> Response:
    """FEP-1b12: the moderators a group's `attributedTo` names, as actor URIs (Lemmy reads this)."""
    runtime: Runtime = request.app.state.runtime
    group = await _local_actor(runtime, request.path_params["username"])
    if group is None or not is_group(group):
        return _not_found("no such group")
    if (denied := await _authorize(request)) is not None:
        return denied
    async with runtime.sessions() as session:
        items = [actor.uri for actor, _role in await group_moderators(session, group)]
    return _as_response({"@context": AS_CONTEXT, "id": moderators_url(group), "type": "OrderedCollection",
                         "totalItems": len(items), "orderedItems": items}, request=request)


async def _public_status(request: Request) -> tuple[Runtime, Actor, Status] | Response:
    runtime: Runtime = request.app.state.runtime
    actor = await _local_actor(runtime, request.path_params["username"])
    status_id = request.path_params["status_id"]
    if actor is None or status_id >= 2**63:
        return _not_found()
    async with runtime.sessions() as session:
        status = await session.get(Status, status_id)
    if status is None or status.actor_id != actor.id or status.visibility not in ("public", "unlisted") \
            or status.reblog_of_id is not None:
        return _not_found("no such status")
    if wants_html(request):
        return RedirectResponse(status.url or runtime.uris.status_page(actor.username, status.id), status_code=302)
    if (denied := await _authorize(request)) is not None:
        return denied
    return runtime, actor, status


async def _status_document(request: Request, document: Callable[[Runtime, Status, Any], dict[str, Any]]) -> Response:
    """A public status of a local actor as `document(runtime, status, parts)` makes it."""
    found = await _public_status(request)
    if isinstance(found, Response):
        return found
    runtime, _actor, status = found
    async with runtime.sessions() as session:
        doc = document(runtime, status, await load_status_parts(session, status))
    return _as_response(doc, request=request)


async def status_object(request: Request) -> Response:
    return await _status_document(request, lambda runtime, status, parts: status_to_as(status, parts, runtime.uris))


async def status_activity(request: Request) -> Response:
    return await _status_document(request, lambda runtime, status, parts: create_activity(
        status.activity_uri or f"{status.uri}/activity", status_to_as(status, parts, runtime.uris, with_context=False)))


async def activity_document(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    actor = await _local_actor(runtime, request.path_params["username"])
    if actor is None or request.path_params["activity_id"] >= 2**63:
        return _not_found()
    uri = runtime.uris.activity(actor.username, request.path_params["activity_id"])
    async with runtime.sessions() as session:
        row = await session.scalar(select(OutgoingActivity).where(OutgoingActivity.uri == uri, _still_published()))
    if row is None or not row.public:
        return _not_found("no such activity")
    if (denied := await _authorize(request)) is not None:
        return denied
    return _as_response(json.loads(row.body), request=request)


async def instance_outbox(request: Request) -> Response:
    """The instance actor publishes nothing itself: an empty, valid collection."""
    runtime: Runtime = request.app.state.runtime
    return _as_response({"@context": AS_CONTEXT, "id": f"{runtime.uris.instance_actor()}/outbox",
                         "type": "OrderedCollection", "totalItems": 0, "orderedItems": []})


async def instance_neighbours(request: Request) -> Response:
    """The instance actors of our mutual neighbours (both consented), public like the instance actor."""
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        items = await mutual_neighbour_uris(session)
    return _as_response({"@context": AS_CONTEXT, "id": f"{runtime.uris.instance_actor()}/neighbours",
                         "type": "OrderedCollection", "totalItems": len(items), "orderedItems": items})


routes = [
    Route("/actor", instance_actor),
    Route("/actor/outbox", instance_outbox),
    Route("/actor/neighbours", instance_neighbours),
    Route("/users/{username}", actor_document),
    Route("/users/{username}/outbox", outbox),
    Route("/users/{username}/followers", followers),
    Route("/users/{username}/following", following),
    Route("/users/{username}/collections/featured", featured),
    Route("/users/{username}/moderators", group_moderators_collection),
    Route("/users/{username}/statuses/{status_id:int}", status_object),
    Route("/users/{username}/statuses/{status_id:int}/activity", status_activity),
    Route("/users/{username}/activities/{activity_id:int}", activity_document),
]
