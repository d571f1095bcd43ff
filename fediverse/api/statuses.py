"""Mastodon client API: statuses (post, read, edit, delete, thread, boosts, favourites, bookmarks,
pins, conversation mutes). Thin edge: writes go through `Outbox` (or actors.bookmarks for the
local-only marks), reads render with `StatusRenderer` for the viewer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from actors import bookmarks
from actors.teams import record_if_team_action
from actors.threads import readable_status, readable_statuses, thread_of
from fediverse.api.auth import Identity, authenticate, optional_identity, viewer_of
from fediverse.api.domain_calls import command, runtime_of
from fediverse.api.errors import ApiError, not_found, unprocessable
from fediverse.api.misc import scheduled_to_api
from fediverse.api.pagination import Page, link_header
from fediverse.api.params import as_list, flag, id_value, int_value, path_id, read_params, text_value
from fediverse.api.serializers.accounts import account_to_api, iso
from fediverse.api.serializers.statuses import StatusRenderer, media_to_api
from fediverse.as2 import parse_datetime
from fediverse.db import utcnow
from fediverse.models import (
    Actor,
    Attachment,
    Favourite,
    Poll,
    Status,
    StatusEdit,
)
from fediverse.runtime import Runtime
from fediverse.sanitize import html_to_text
from outbox.commands import Outbox, PollSpec, StatusDraft

MAX_IDS = 20  # GET /api/v1/statuses?id[]=... (Mastodon's DEFAULT_STATUSES_LIMIT)
LANGUAGE_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


# -- who may read what ------------------------------------------------------------------------------

# The rules live in the domain (actors/threads.py), shared with the website's thread pages.
filter_visible = readable_statuses


async def visible_status(session: AsyncSession, viewer_id: int | None, status_id: int) -> Status:
    """The status if the viewer may read it; 404 otherwise (never 403: its existence stays private)."""
    status = await readable_status(session, viewer_id, status_id)
    if status is None:
        raise not_found()
    return status


async def render_status(runtime: Runtime, viewer_id: int | None, status_id: int,
                        extra: dict[str, Any] | None = None) -> JSONResponse:
    async with runtime.sessions() as session:
        status = await session.get(Status, status_id)
        if status is None:
            raise not_found()
        doc = await StatusRenderer(session, runtime.settings, viewer_id).render_one(status)
    if extra:
        doc.update(extra)
    return JSONResponse(doc)


# -- posting ----------------------------------------------------------------------------------------

def poll_spec(value: Any) -> PollSpec | None:
    if value in (None, "", {}):
        return None
    if not isinstance(value, dict):
        raise unprocessable("poll must be an object", "poll")
    options = [str(o) for o in as_list(value.get("options"))]
    if "expires_in" not in value:
        raise unprocessable("poll[expires_in] is required", "poll")
    return PollSpec(options, int_value(value.get("expires_in"), "poll[expires_in]"),
                    bool(flag(value.get("multiple"))), bool(flag(value.get("hide_totals"))))


def language_of(value: Any) -> str | None:
    text = text_value(value)
    return text.lower() if text and LANGUAGE_RE.match(text) else None


async def draft_from(session: AsyncSession, identity: Identity, params: dict[str, Any]) -> StatusDraft:
    """The client's parameters, with the user's defaults (visibility, sensitive, language)."""
    user = identity.user
    reply_to = params.get("in_reply_to_id")
    in_reply_to_id = id_value(reply_to, "in_reply_to_id") if reply_to not in (None, "") else None
    if in_reply_to_id is not None:
        try:
            await visible_status(session, identity.actor_id, in_reply_to_id)
        except ApiError:
            raise ApiError(404, "The post you are trying to reply to does not appear to exist.") from None
    sensitive = flag(params.get("sensitive"))
    return StatusDraft(
        text=text_value(params.get("status")) or "",
        spoiler_text=text_value(params.get("spoiler_text")) or "",
        visibility=text_value(params.get("visibility")) or (user.default_visibility if user else "public"),
        sensitive=sensitive if sensitive is not None else bool(user and user.default_sensitive),
        language=language_of(params.get("language")) or (user.default_language if user else None) or None,
        in_reply_to_id=in_reply_to_id,
        media_ids=[id_value(v, "media_ids") for v in as_list(params.get("media_ids"))],
        poll=poll_spec(params.get("poll")),
        commune=commune_of(params.get("commune")),
    )


def commune_of(value: Any) -> str | None:
    """The `commune` extension parameter (INSEE code of the territory's commune the status is about);
    its validity is checked by the outbox (422 when unknown)."""
    text = (text_value(value) or "").strip().upper()
    return text[:16] or None


async def create_status(request: Request) -> Response:
    identity = await authenticate(request, "write:statuses")
    runtime = runtime_of(request)
    params = await read_params(request)
    async with runtime.sessions() as session:
        draft = await draft_from(session, identity, params)
    scheduled_at = None
    if params.get("scheduled_at") not in (None, ""):
        scheduled_at = parse_datetime(text_value(params.get("scheduled_at")))
        if scheduled_at is None:
            raise unprocessable("scheduled_at must be an ISO 8601 date", "scheduled_at")
    outbox = Outbox(runtime)
    if scheduled_at is not None and scheduled_at > utcnow():  # a date in the past means "now" (Mastodon)
        row = await command(outbox.schedule(identity.actor_id, draft, scheduled_at))
        async with runtime.sessions() as session:
            media = {m.id: m for m in await session.scalars(select(Attachment).where(
                Attachment.id.in_(draft.media_ids)))} if draft.media_ids else {}
        return JSONResponse(scheduled_to_api(row, [media[i] for i in draft.media_ids if i in media], runtime))
    key = (request.headers.get("idempotency-key") or "").strip() or None
    status = await command(outbox.post(identity.actor_id, draft, idempotency_key=key))
    await record_if_team_action(runtime, identity, "status.create", status.uri)
    return await render_status(runtime, identity.actor_id, status.id)


async def own_status(runtime: Runtime, actor_id: int, status_id: int) -> Status:
    async with runtime.sessions() as session:
        status = await session.get(Status, status_id)
    if status is None or status.actor_id != actor_id:
        raise not_found()
    return status


async def update_status(request: Request) -> Response:
    identity = await authenticate(request, "write:statuses")
    runtime = runtime_of(request)
    status = await own_status(runtime, identity.actor_id, path_id(request))
    if status.reblog_of_id is not None:
        raise not_found()
    params = await read_params(request)
    async with runtime.sessions() as session:
        draft = await draft_from(session, identity, {**params, "in_reply_to_id": None})
    draft.visibility = status.visibility
    if language_of(params.get("language")) is None:
        draft.language = status.language
    await command(Outbox(runtime).revise(identity.actor_id, status.id, draft))
    return await render_status(runtime, identity.actor_id, status.id)


async def delete_status(request: Request) -> Response:
    """Deletes, answering with the status and its source `text` (delete-and-redraft)."""
    identity = await authenticate(request, "write:statuses")
    runtime = runtime_of(request)
    status = await own_status(runtime, identity.actor_id, path_id(request))
    outbox = Outbox(runtime)
    if status.reblog_of_id is not None:
        response = await render_status(runtime, identity.actor_id, status.id)
        await command(outbox.unboost(identity.actor_id, status.reblog_of_id))
        await record_if_team_action(runtime, identity, "status.unreblog", status.uri)
        return response
    source = status.source_text if status.source_text is not None else html_to_text(status.content)
    response = await render_status(runtime, identity.actor_id, status.id, {"text": source})
    delete_media = flag((await read_params(request)).get("delete_media"))
    await command(outbox.delete_status(identity.actor_id, status.id, keep_media=not delete_media))
    await record_if_team_action(runtime, identity, "status.delete", status.uri)
    return response


# -- reading ----------------------------------------------------------------------------------------

async def show_status(request: Request) -> Response:
    viewer = viewer_of(await optional_identity(request, "read:statuses"))
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        status = await visible_status(session, viewer, path_id(request))
        return JSONResponse(await StatusRenderer(session, runtime.settings, viewer).render_one(status))


async def list_statuses(request: Request) -> Response:
    """GET /api/v1/statuses?id[]=1&id[]=2: the readable ones, in the order asked."""
    viewer = viewer_of(await optional_identity(request, "read:statuses"))
    runtime = runtime_of(request)
    params = await read_params(request)
    ids = list(dict.fromkeys(id_value(v, "id") for v in as_list(params.get("id"))))
    if len(ids) > MAX_IDS:
        raise unprocessable(f"at most {MAX_IDS} ids", "id")
    async with runtime.sessions() as session:
        rows = {s.id: s for s in await session.scalars(select(Status).where(Status.id.in_(ids)))} if ids else {}
        readable = await filter_visible(session, viewer, [rows[i] for i in ids if i in rows])
        return JSONResponse(await StatusRenderer(session, runtime.settings, viewer).render(readable))


async def status_context(request: Request) -> Response:
    """Ancestors (oldest first) and descendants (depth first, like Mastodon), readable ones only;
    bounded in depth and size so a huge thread costs a bounded number of queries."""
    viewer = viewer_of(await optional_identity(request, "read:statuses"))
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        status = await visible_status(session, viewer, path_id(request))
        thread = await thread_of(session, viewer, status)
        renderer = StatusRenderer(session, runtime.settings, viewer)
        return JSONResponse({
            "ancestors": await renderer.render(thread.ancestors),
            "descendants": await renderer.render([reply for reply, _depth in thread.descendants]),
        })


async def status_history(request: Request) -> Response:
    """Every version, oldest first, the current one last (Mastodon's StatusEdit entities)."""
    viewer = viewer_of(await optional_identity(request, "read:statuses"))
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        status = await visible_status(session, viewer, path_id(request))
        author = await session.get(Actor, status.actor_id)
        assert author is not None
        edits = (await session.scalars(select(StatusEdit).where(StatusEdit.status_id == status.id)
                                       .order_by(StatusEdit.created_at, StatusEdit.id))).all()
        current_media = list((await session.scalars(select(Attachment).where(Attachment.status_id == status.id)
                                                    .order_by(Attachment.position, Attachment.id))).all())
        wanted = list({int(i) for e in edits for i in json.loads(e.media_ids_json or "[]")})
        media = {m.id: m for m in await session.scalars(select(Attachment).where(Attachment.id.in_(wanted)))} \
            if wanted else {}
        poll = await session.scalar(select(Poll).where(Poll.status_id == status.id))
        account = account_to_api(author, runtime.settings)

        def version(content: str, summary: str, sensitive: bool, created: datetime, items: list[Attachment],
                    options_json: str | None) -> dict[str, Any]:
            doc: dict[str, Any] = {
                "content": content, "spoiler_text": summary or "", "sensitive": sensitive, "created_at": iso(created),
                "account": account, "media_attachments": [media_to_api(m, runtime.settings) for m in items],
                "emojis": []}
            if options_json:
                doc["poll"] = {"options": [{"title": o.get("title", "")} for o in json.loads(options_json)]}
            return doc

        history = [version(e.content, e.summary, e.sensitive, e.created_at,
                           [media[int(i)] for i in json.loads(e.media_ids_json or "[]") if int(i) in media],
                           e.poll_options_json) for e in edits]
        history.append(version(status.content, status.summary, status.sensitive, status.updated or status.published,
                               current_media, poll.options_json if poll is not None else None))
    return JSONResponse(history)


async def status_source(request: Request) -> Response:
    identity = await authenticate(request, "read:statuses")
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        status = await visible_status(session, identity.actor_id, path_id(request))
    text = status.source_text if status.source_text is not None else html_to_text(status.content)
    return JSONResponse({"id": str(status.id), "text": text, "spoiler_text": status.summary or ""})


async def _accounts_page(request: Request, favourites: bool) -> Response:
    identity = await optional_identity(request, "read:accounts")
    viewer = viewer_of(identity)
    runtime = runtime_of(request)
    page = Page.from_request(request, default=40, maximum=80)
    async with runtime.sessions() as session:
        status = await visible_status(session, viewer, path_id(request))
        if favourites:
            query = select(Favourite.id, Actor).join(Actor, Actor.id == Favourite.actor_id).where(
                Favourite.status_id == status.id)
            column: Any = Favourite.id
        else:
            query = select(Status.id, Actor).join(Actor, Actor.id == Status.actor_id).where(
                Status.reblog_of_id == status.id)
            column = Status.id
        query = query.where(Actor.suspended_at.is_(None), Actor.deleted_at.is_(None))
        rows = page.order((await session.execute(page.apply(query, column))).all())
    accounts = [account_to_api(actor, runtime.settings) for _, actor in rows]
    return JSONResponse(accounts, headers=link_header(request, [row_id for row_id, _ in rows]))


async def reblogged_by(request: Request) -> Response:
    return await _accounts_page(request, favourites=False)


async def favourited_by(request: Request) -> Response:
    return await _accounts_page(request, favourites=True)


# -- actions on a status ----------------------------------------------------------------------------

async def _target(request: Request, scope: str) -> tuple[Identity, Runtime, Status]:
    """The acting identity and the status acted on (a boost stands for the boosted status)."""
    identity = await authenticate(request, scope)
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        status = await visible_status(session, identity.actor_id, path_id(request))
        if status.reblog_of_id is not None:
            status = await visible_status(session, identity.actor_id, status.reblog_of_id)
    return identity, runtime, status


async def reblog(request: Request) -> Response:
    identity, runtime, status = await _target(request, "write:statuses")
    boost = await command(Outbox(runtime).boost(identity.actor_id, status.id))
    await record_if_team_action(runtime, identity, "status.reblog", status.uri)
    return await render_status(runtime, identity.actor_id, boost.id)


StatusAction = Callable[[Runtime, int, Status], Awaitable[Any]]


def _status_action(scope: str, act: StatusAction) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint that acts on a status and answers with it, as the acting account now sees it."""
    async def endpoint(request: Request) -> Response:
        identity, runtime, status = await _target(request, scope)
        await act(runtime, identity.actor_id, status)
        await record_if_team_action(runtime, identity, "status." + request.url.path.rsplit("/", 1)[-1], status.uri)
        return await render_status(runtime, identity.actor_id, status.id)

    return endpoint


unreblog = _status_action("write:statuses", lambda runtime, actor_id, status: command(
    Outbox(runtime).unboost(actor_id, status.id)))
favourite = _status_action("write:favourites", lambda runtime, actor_id, status: command(
    Outbox(runtime).favourite(actor_id, status.id)))
unfavourite = _status_action("write:favourites", lambda runtime, actor_id, status: command(
    Outbox(runtime).unfavourite(actor_id, status.id)))
bookmark = _status_action("write:bookmarks", lambda runtime, actor_id, status: bookmarks.bookmark(
    runtime, actor_id, status.id))
unbookmark = _status_action("write:bookmarks", lambda runtime, actor_id, status: bookmarks.unbookmark(
    runtime, actor_id, status.id))
pin = _status_action("write:accounts", lambda runtime, actor_id, status: command(
    Outbox(runtime).pin(actor_id, status.id)))
unpin = _status_action("write:accounts", lambda runtime, actor_id, status: command(
    Outbox(runtime).pin(actor_id, status.id, pinned=False)))
mute = _status_action("write:mutes", lambda runtime, actor_id, status: bookmarks.mute_conversation(
    runtime, actor_id, status))
unmute = _status_action("write:mutes", lambda runtime, actor_id, status: bookmarks.unmute_conversation(
    runtime, actor_id, status))


PREFIX = "/api/v1/statuses"
routes: list[BaseRoute] = [
    Route(PREFIX, create_status, methods=["POST"]),
    Route(PREFIX, list_statuses, methods=["GET"]),
    Route(PREFIX + "/{id}", show_status, methods=["GET"]),
    Route(PREFIX + "/{id}", update_status, methods=["PUT"]),
    Route(PREFIX + "/{id}", delete_status, methods=["DELETE"]),
    Route(PREFIX + "/{id}/context", status_context, methods=["GET"]),
    Route(PREFIX + "/{id}/history", status_history, methods=["GET"]),
    Route(PREFIX + "/{id}/source", status_source, methods=["GET"]),
    Route(PREFIX + "/{id}/reblogged_by", reblogged_by, methods=["GET"]),
    Route(PREFIX + "/{id}/favourited_by", favourited_by, methods=["GET"]),
    Route(PREFIX + "/{id}/reblog", reblog, methods=["POST"]),
    Route(PREFIX + "/{id}/unreblog", unreblog, methods=["POST"]),
    Route(PREFIX + "/{id}/favourite", favourite, methods=["POST"]),
    Route(PREFIX + "/{id}/unfavourite", unfavourite, methods=["POST"]),
    Route(PREFIX + "/{id}/bookmark", bookmark, methods=["POST"]),
    Route(PREFIX + "/{id}/unbookmark", unbookmark, methods=["POST"]),
    Route(PREFIX + "/{id}/pin", pin, methods=["POST"]),
    Route(PREFIX + "/{id}/unpin", unpin, methods=["POST"]),
    Route(PREFIX + "/{id}/mute", mute, methods=["POST"]),
    Route(PREFIX + "/{id}/unmute", unmute, methods=["POST"]),
]
