"""Mastodon client API: accounts, relationships, follow requests, blocks, mutes, private notes,
endorsements, favourites, bookmarks.

A thin edge: it parses what Mastodon clients send (query strings, forms, multipart, JSON), checks
the token's scopes, then reads rows or calls the domain commands (`outbox.commands.Outbox` for
anything federated, `actors.relationships` for mutes, follow options, notes and endorsements,
`actors.preferences` for posting defaults) and renders Mastodon's entities.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from actors.preferences import PreferenceError, update_posting_defaults, validate_posting_defaults
from actors.relationships import (
    Relationship,
    RelationshipError,
    active_mute,
    clear_follow_options,
    endorse,
    endorsements_query,
    follow_languages,
    is_blocked,
    mute,
    relationship,
    relationships,
    search_accounts,
    set_account_note,
    set_follow_options,
    statuses_visible_clause,
    unendorse,
    unmute,
)
from actors.remote import ActorError, ActorResolver
from fediverse.api.auth import Identity, authenticate, optional_identity
from fediverse.api.errors import ApiError, not_found, unprocessable
from fediverse.api.pagination import Page, link_header
from fediverse.api.serializers.accounts import account_to_api, credential_account_to_api, iso
from fediverse.api.serializers.statuses import StatusRenderer
from fediverse.config import Settings
from fediverse.http import FetchError
from fediverse.media import MediaError, StoredMedia, discard, media_storage, store_upload
from fediverse.models import (
    Actor,
    Attachment,
    Block,
    Bookmark,
    Endorsement,
    Favourite,
    FeaturedStatus,
    Follow,
    Mute,
    Status,
    StatusTag,
    User,
)
from fediverse.runtime import Runtime
from fediverse.sanitize import html_to_text, text_to_html
from outbox.commands import CommandError, NotFound, Outbox
from webfinger.client import WebFingerError, parse_handle, resolve_handle

MAX_DISPLAY_NAME = 30
MAX_NOTE = 500
MAX_FIELDS = 4
MAX_FIELD_TEXT = 255
MAX_BATCH_IDS = 40
MAX_RELATIONSHIP_IDS = 200
FALSE_VALUES = frozenset({"0", "f", "false", "off", "no", "n"})
_FIELD_KEY = re.compile(r"^fields_attributes\[(\d*)\]\[(name|value)\]$")


# -- request parsing ------------------------------------------------------------------------------


class Params:
    """Request parameters the way Rails merges them for Mastodon: query string plus body (form,
    multipart or JSON, nested JSON flattened to `a[b]` / `a[]` keys), uploaded files apart."""

    def __init__(self, items: list[tuple[str, Any]], files: dict[str, UploadFile]) -> None:
        self.items = items
        self.files = files

    def get(self, name: str) -> Any:
        found = None
        for key, value in self.items:
            if key == name:
                found = value
        return found

    def text(self, name: str) -> str | None:
        value = self.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def getlist(self, name: str) -> list[Any]:
        return [value for key, value in self.items if key in (name, f"{name}[]")]

    def flag(self, name: str) -> bool | None:
        """Rails' boolean casting: '', absent -> None; 0/f/false/off -> False; anything else True."""
        value = self.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() not in FALSE_VALUES

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.get(name)
        if value is None or value == "":
            return default
        try:
            return int(str(value))
        except ValueError:
            raise unprocessable(f"{name} must be a number", name) from None


def _flatten(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}[{key}]" if prefix else str(key), inner, out)
    elif isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            out.extend((f"{prefix}[]", v if isinstance(v, bool) else str(v)) for v in value if v is not None)
        else:
            for index, inner in enumerate(value):
                _flatten(f"{prefix}[{index}]", inner, out)
    elif value is not None:
        out.append((prefix, value if isinstance(value, bool) else str(value)))


async def read_params(request: Request) -> Params:
    items: list[tuple[str, Any]] = list(request.query_params.multi_items())
    files: dict[str, UploadFile] = {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("application/json", "application/merge-patch+json") or content_type.endswith("+json"):
        body = await request.body()
        if body.strip():
            try:
                data = json.loads(body)
            except ValueError:
                raise ApiError(400, "The request body is not valid JSON") from None
            if not isinstance(data, dict):
                raise ApiError(400, "The request body must be a JSON object")
            _flatten("", data, items)
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files[key] = value
            else:
                items.append((key, value))
    return Params(items, files)


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _parse_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 19:
        raise not_found()
    return int(raw)


def _ids(params: Params, limit: int) -> list[int]:
    """`id[]=1&id[]=2` (or `id=1`), unknown shapes skipped like Mastodon's `where(id:)` does."""
    ids = [int(str(v)) for v in params.getlist("id") if str(v).isdigit() and len(str(v)) <= 19]
    return list(dict.fromkeys(ids))[:limit]


def _json(data: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(data, headers=headers)


# -- rendering ------------------------------------------------------------------------------------


def relationship_to_api(rel: Relationship) -> dict[str, Any]:
    return {
        "id": str(rel.target_id),
        "following": rel.following,
        "showing_reblogs": rel.showing_reblogs,
        "notifying": rel.notifying,
        "languages": rel.languages,
        "followed_by": rel.followed_by,
        "blocking": rel.blocking,
        "blocked_by": rel.blocked_by,
        "muting": rel.muting,
        "muting_notifications": rel.muting_notifications,
        "requested": rel.requested,
        "requested_by": rel.requested_by,
        "domain_blocking": False,
        "endorsed": rel.endorsed,
        "note": rel.note,
    }


async def render_accounts(session: AsyncSession, settings: Settings, actors: Sequence[Actor]) -> list[dict[str, Any]]:
    """Accounts with their `moved` target rendered too, in one extra query for the whole list."""
    moved_uris = {a.moved_to_uri for a in actors if a.moved_to_uri}
    moved: dict[str, dict[str, Any]] = {}
    if moved_uris:
        for target in await session.scalars(select(Actor).where(Actor.uri.in_(moved_uris))):
            moved[target.uri] = account_to_api(target, settings)
    return [account_to_api(a, settings, moved=moved.get(a.moved_to_uri or "")) for a in actors]


async def _credential_account(session: AsyncSession, settings: Settings, identity: Identity) -> dict[str, Any]:
    actor = await session.get(Actor, identity.actor_id, populate_existing=True)
    if actor is None:
        raise not_found()
    user = await session.get(User, identity.user.id, populate_existing=True) if identity.user else None
    requests = await session.scalar(select(func.count()).select_from(Follow).where(
        Follow.followee_id == actor.id, Follow.state == "pending")) or 0
    doc = credential_account_to_api(actor, user, settings, requests)
    # `source.fields` are what the user typed, not the linkified HTML of `fields`.
    stored = [f for f in json.loads(actor.fields_json or "[]") if isinstance(f, dict)]
    doc["source"]["fields"] = [{"name": f.get("name", ""), "verified_at": None,
                                "value": f.get("source_value", html_to_text(f.get("value", "")))} for f in stored]
    return doc


def _visible(actor: Actor | None) -> bool:
    return actor is not None and actor.suspended_at is None and actor.deleted_at is None


async def _account(session: AsyncSession, raw_id: str) -> Actor:
    """The account behind a path id; 404 when unknown, suspended, deleted or awaiting approval."""
    actor = await session.get(Actor, _parse_id(raw_id))
    if not _visible(actor):
        raise not_found()
    assert actor is not None
    if actor.domain is None:
        approved = await session.scalar(select(User.approved).where(User.actor_id == actor.id))
        if approved is False:
            raise not_found()
    return actor


async def _relationship_response(runtime: Runtime, viewer_id: int, target_id: int) -> JSONResponse:
    async with runtime.sessions() as session:
        return _json(relationship_to_api(await relationship(session, viewer_id, target_id)))


def _viewer_id(identity: Identity | None) -> int | None:
    return identity.actor.id if identity is not None and identity.actor is not None else None


# -- credentials ----------------------------------------------------------------------------------


async def verify_credentials(request: Request) -> JSONResponse:
    identity = await authenticate(request, "profile")  # `profile` is also granted by read and read:accounts
    runtime = _runtime(request)
    async with runtime.sessions() as session:
        return _json(await _credential_account(session, runtime.settings, identity))


def _field_html(value: str) -> str:
    """A profile field value as Mastodon shows it: escaped text with its links made clickable."""
    rendered = text_to_html(value)
    if rendered.startswith("<p>") and rendered.endswith("</p>"):
        rendered = rendered[3:-4]
    return rendered


def _profile_fields(params: Params) -> list[dict[str, str]] | None:
    """`fields_attributes[N][name|value]` (or `[][...]`) -> stored fields; None when none were sent."""
    entries: dict[str, dict[str, str]] = {}
    sent = False
    running = -1
    for key, value in params.items:
        match = _FIELD_KEY.match(key)
        if match is None:
            continue
        sent = True
        index, part = match.groups()
        if not index:  # `fields_attributes[][name]`: a name starts the next entry
            if part == "name" or running < 0:
                running += 1
            index = f"~{running:04d}"
        entries.setdefault(index, {})[part] = " ".join(str(value).split())
    if not sent:
        if params.get("fields_attributes") == "":
            return []  # an explicit empty value clears the fields
        return None
    ordered = [entries[k] for k in sorted(entries, key=lambda k: (k.startswith("~"), int(k.lstrip("~"))))]
    fields = [e for e in ordered if e.get("name") or e.get("value")]
    if len(fields) > MAX_FIELDS:
        raise unprocessable(f"at most {MAX_FIELDS} profile fields", "fields")
    result = []
    for entry in fields:
        name, value = entry.get("name", ""), entry.get("value", "")
        if len(name) > MAX_FIELD_TEXT or len(value) > MAX_FIELD_TEXT:
            raise unprocessable(f"profile field names and values are limited to {MAX_FIELD_TEXT} characters",
                                "fields")
        result.append({"name": name, "value": _field_html(value), "source_value": value})
    return result


async def _store_image(runtime: Runtime, upload: UploadFile, purpose: Literal["avatar", "header"]) -> StoredMedia:
    """An uploaded avatar or header, checked, cleaned and resized by the shared media code."""
    data = await upload.read()
    try:
        stored = await store_upload(runtime, data, filename=upload.filename, declared_type=upload.content_type,
                                    purpose=purpose)
    except MediaError as exc:
        raise unprocessable(str(exc), purpose) from exc
    # A profile picture only gets a separate small file when it is animated: its still first
    # frame, served as avatar_static / header_static for apps that do not animate.
    return stored


async def update_credentials(request: Request) -> JSONResponse:
    identity = await authenticate(request, "write:accounts")
    runtime = _runtime(request)
    params = await read_params(request)
    changes: dict[str, Any] = {}
    display_name = params.text("display_name")
    if display_name is not None:
        display_name = display_name.strip()
        if len(display_name) > MAX_DISPLAY_NAME:
            raise unprocessable(f"display name is limited to {MAX_DISPLAY_NAME} characters", "display_name")
        changes["display_name"] = display_name
    note = params.text("note")
    if note is not None:
        if len(note) > MAX_NOTE:
            raise unprocessable(f"note is limited to {MAX_NOTE} characters", "note")
        changes["summary"] = text_to_html(note)
        changes["source_note"] = note
    for name, column in (("locked", "manually_approves_followers"), ("bot", "bot"), ("discoverable", "discoverable")):
        value = params.flag(name)
        if value is not None:
            changes[column] = value
    fields = _profile_fields(params)
    if fields is not None:
        changes["fields_json"] = json.dumps(fields, ensure_ascii=False)
    privacy = params.text("source[privacy]")
    sensitive = params.flag("source[sensitive]")
    language = params.text("source[language]")
    try:
        validate_posting_defaults(privacy, language)
    except PreferenceError as exc:
        raise unprocessable(str(exc), "source") from exc
    assert identity.actor is not None
    stored: list[str] = []
    images: tuple[tuple[Literal["avatar", "header"], str, str], ...] = (
        ("avatar", "icon_url", "icon_static_url"), ("header", "image_url", "image_static_url"))
    try:
        for purpose, column, static_column in images:
            upload = params.files.get(purpose)
            if upload is not None:
                image = await _store_image(runtime, upload, purpose)
                stored.extend(image.file_names)
                changes[column] = image.url
                static = image.preview_url if image.preview_file_name else None
                if static is not None or getattr(identity.actor, static_column) is not None:
                    changes[static_column] = static  # set, or cleared when the new picture is not animated
        replaced = [identity.actor.icon_url, identity.actor.icon_static_url] if "icon_url" in changes else []
        if "image_url" in changes:
            replaced += [identity.actor.image_url, identity.actor.image_static_url]
        if changes:
            await Outbox(runtime).update_profile(identity.actor_id, **changes)
    except CommandError as exc:
        await discard(runtime, *stored)
        raise unprocessable(str(exc)) from exc
    except BaseException:
        await discard(runtime, *stored)
        raise
    storage = media_storage(runtime.settings)
    await discard(runtime, *(storage.name_for_url(url) for url in replaced))
    if identity.user is not None and (privacy, sensitive, language) != (None, None, None):
        await update_posting_defaults(runtime, identity.user.id, privacy=privacy, sensitive=sensitive,
                                      language=language)
    async with runtime.sessions() as session:
        return _json(await _credential_account(session, runtime.settings, identity))


# -- reading accounts -----------------------------------------------------------------------------


async def show_account(request: Request) -> JSONResponse:
    await optional_identity(request)
    runtime = _runtime(request)
    async with runtime.sessions() as session:
        actor = await _account(session, request.path_params["id"])
        return _json((await render_accounts(session, runtime.settings, [actor]))[0])


async def list_accounts(request: Request) -> JSONResponse:
    """`GET /api/v1/accounts?id[]=...`: the known ones, in the order asked."""
    await optional_identity(request)
    runtime = _runtime(request)
    params = await read_params(request)
    if len(params.getlist("id")) > MAX_BATCH_IDS:
        raise unprocessable(f"at most {MAX_BATCH_IDS} ids", "id")
    ids = _ids(params, MAX_BATCH_IDS)
    async with runtime.sessions() as session:
        found = {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(ids)))} if ids else {}
        actors = [found[i] for i in ids if _visible(found.get(i))]
        return _json(await render_accounts(session, runtime.settings, actors))


async def lookup_account(request: Request) -> JSONResponse:
    """`acct` is `name` (local) or `name@domain` of an account we already know; no network call."""
    await optional_identity(request)
    runtime = _runtime(request)
    text = (request.query_params.get("acct") or "").strip().removeprefix("@")
    username, _, domain = text.partition("@")
    if not username:
        raise not_found()
    domain = domain.lower()
    if domain == runtime.settings.domain:
        domain = ""
    async with runtime.sessions() as session:
        actor = await session.scalar(select(Actor).where(
            Actor.username_lower == username.lower(), Actor.domain_key == domain))
        if not _visible(actor):
            raise not_found()
        assert actor is not None
        return _json(await _account_doc(session, runtime.settings, actor))


async def _account_doc(session: AsyncSession, settings: Settings, actor: Actor) -> dict[str, Any]:
    return (await render_accounts(session, settings, [actor]))[0]


def _looks_like_remote_handle(query: str, local_domain: str) -> bool:
    try:
        _, domain = parse_handle(query)
    except WebFingerError:
        return False
    return domain != local_domain


async def _resolve(runtime: Runtime, query: str) -> Actor | None:
    """WebFinger the handle, then fetch (or reuse) the actor document; None when it cannot be found."""
    try:
        uri = await resolve_handle(runtime, query)
        actor = await ActorResolver(runtime).get(uri)
    except (WebFingerError, FetchError, ActorError):
        return None
    return actor if _visible(actor) else None


async def search(request: Request) -> JSONResponse:
    identity = await authenticate(request, "read:accounts")
    runtime = _runtime(request)
    params = await read_params(request)
    query = (params.text("q") or "").strip()
    limit = max(1, min(params.integer("limit", 40) or 40, 80))
    offset = max(0, params.integer("offset", 0) or 0)
    following = bool(params.flag("following"))
    viewer = identity.actor_id
    async with runtime.sessions() as session:
        found = await search_accounts(session, query, viewer, local_domain=runtime.settings.domain, limit=limit,
                                      offset=offset, following=following)
    if params.flag("resolve") and offset == 0 and _looks_like_remote_handle(query, runtime.settings.domain):
        username, domain = parse_handle(query)
        exact = any(a.username_lower == username.lower() and a.domain == domain for a in found)
        if not exact:
            resolved = await _resolve(runtime, query)
            if resolved is not None and (not following or resolved.id in {a.id for a in found}):
                found = [resolved, *[a for a in found if a.id != resolved.id]][:limit]
    async with runtime.sessions() as session:
        return _json(await render_accounts(session, runtime.settings, found))


async def account_statuses(request: Request) -> JSONResponse:
    identity = await optional_identity(request, "read:statuses")
    runtime = _runtime(request)
    params = await read_params(request)
    page = Page.from_request(request, default=20, maximum=40)
    viewer = _viewer_id(identity)
    async with runtime.sessions() as session:
        author = await _account(session, request.path_params["id"])
        stmt = select(Status).where(await statuses_visible_clause(session, author.id, viewer))
        if params.flag("pinned"):
            stmt = stmt.where(Status.id.in_(select(FeaturedStatus.status_id).where(
                FeaturedStatus.actor_id == author.id)))
        if params.flag("exclude_replies"):
            # Mastodon keeps an author's replies to themself (threads) in this view.
            stmt = stmt.where((Status.in_reply_to_uri.is_(None)) | (Status.in_reply_to_actor_id == author.id))
        if params.flag("exclude_reblogs"):
            stmt = stmt.where(Status.reblog_of_id.is_(None))
        if params.flag("exclude_direct"):
            stmt = stmt.where(Status.visibility != "direct")
        if params.flag("only_media"):
            stmt = stmt.where(Status.id.in_(select(Attachment.status_id).where(Attachment.status_id.is_not(None))))
        tagged = (params.text("tagged") or "").strip().removeprefix("#").lower()
        if tagged:
            stmt = stmt.where(Status.id.in_(select(StatusTag.status_id).where(StatusTag.name == tagged)))
        rows = page.order(list(await session.scalars(page.apply(stmt, Status.id))))
        docs = await StatusRenderer(session, runtime.settings, viewer).render(rows)
    return _json(docs, link_header(request, [s.id for s in rows]))


async def _follow_list(request: Request, *, followers: bool) -> JSONResponse:
    identity = await optional_identity(request, "read:accounts")
    runtime = _runtime(request)
    page = Page.from_request(request, default=40, maximum=80)
    viewer = _viewer_id(identity)
    async with runtime.sessions() as session:
        target = await _account(session, request.path_params["id"])
        if viewer is not None and viewer != target.id and await session.scalar(
                select(Block.id).where(Block.actor_id == target.id, Block.target_id == viewer)):
            return _json([])
        other = Follow.follower_id if followers else Follow.followee_id
        this = Follow.followee_id if followers else Follow.follower_id
        stmt = (select(Follow.id, Actor).join(Actor, Actor.id == other)
                .where(this == target.id, Follow.state == "accepted", Actor.suspended_at.is_(None),
                       Actor.deleted_at.is_(None)))
        rows = page.order((await session.execute(page.apply(stmt, Follow.id))).all())
        docs = await render_accounts(session, runtime.settings, [actor for _, actor in rows])
    return _json(docs, link_header(request, [row_id for row_id, _ in rows]))


async def account_followers(request: Request) -> JSONResponse:
    return await _follow_list(request, followers=True)


async def account_following(request: Request) -> JSONResponse:
    return await _follow_list(request, followers=False)


async def account_featured_tags(request: Request) -> JSONResponse:
    await optional_identity(request)
    async with _runtime(request).sessions() as session:
        await _account(session, request.path_params["id"])
    return _json([])


async def own_featured_tags(request: Request) -> JSONResponse:
    await authenticate(request, "read:accounts")
    return _json([])


async def endorsements(request: Request) -> JSONResponse:
    """The accounts the viewer features on their profile, newest first."""
    identity = await authenticate(request, "read:accounts")
    runtime = _runtime(request)
    page = Page.from_request(request, default=40, maximum=80)
    return await _account_page(request, runtime, page, endorsements_query(identity.actor_id), Endorsement.id)


async def account_endorsements(request: Request) -> JSONResponse:
    """The accounts someone features on their profile (public; Mastodon 4.4)."""
    await optional_identity(request, "read:accounts")
    runtime = _runtime(request)
    page = Page.from_request(request, default=40, maximum=80)
    async with runtime.sessions() as session:
        account = await _account(session, request.path_params["id"])
    return await _account_page(request, runtime, page, endorsements_query(account.id), Endorsement.id)


# -- relationships --------------------------------------------------------------------------------


async def get_relationships(request: Request) -> JSONResponse:
    identity = await authenticate(request, "read:follows")
    runtime = _runtime(request)
    params = await read_params(request)
    ids = _ids(params, MAX_RELATIONSHIP_IDS)
    with_suspended = bool(params.flag("with_suspended"))
    async with runtime.sessions() as session:
        known = {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(ids)))} if ids else {}
        targets = [i for i in ids if i in known and (with_suspended or _visible(known[i]))]
        rels = await relationships(session, identity.actor_id, targets)
    return _json([relationship_to_api(r) for r in rels])


async def familiar_followers(request: Request) -> JSONResponse:
    """For each account: the accounts the viewer follows that also follow it."""
    identity = await authenticate(request, "read:follows")
    runtime = _runtime(request)
    params = await read_params(request)
    ids = _ids(params, MAX_BATCH_IDS)
    viewer_follow = aliased(Follow)
    async with runtime.sessions() as session:
        known = set(await session.scalars(select(Actor.id).where(Actor.id.in_(ids)))) if ids else set()
        rows = (await session.execute(
            select(Follow.followee_id, Actor)
            .join(Actor, Actor.id == Follow.follower_id)
            .join(viewer_follow, and_(viewer_follow.followee_id == Follow.follower_id,
                                      viewer_follow.follower_id == identity.actor_id,
                                      viewer_follow.state == "accepted"))
            .where(Follow.followee_id.in_(sorted(known)), Follow.state == "accepted", Actor.suspended_at.is_(None),
                   Actor.deleted_at.is_(None))
            .order_by(Follow.id.desc()))).all() if known else []
        by_target: dict[int, list[Actor]] = {i: [] for i in known}
        for target_id, actor in rows:
            by_target[target_id].append(actor)
        result = []
        for target_id in ids:
            if target_id in known:
                accounts = await render_accounts(session, runtime.settings, by_target[target_id])
                result.append({"id": str(target_id), "accounts": accounts})
    return _json(result)


async def _command(call: Any) -> None:
    """Run an Outbox command, mapping its errors to Mastodon's statuses."""
    try:
        await call
    except NotFound as exc:
        raise not_found() from exc
    except CommandError as exc:
        raise unprocessable(str(exc)) from exc


def _languages_param(params: Params) -> list[str] | None:
    """`languages[]` of a follow (None when not sent; an empty list means all languages)."""
    if not any(key in ("languages", "languages[]") for key, _ in params.items):
        return None
    try:
        return follow_languages([str(v) for v in params.getlist("languages")])
    except RelationshipError as exc:
        raise unprocessable(str(exc), "languages") from exc


async def follow(request: Request) -> JSONResponse:
    identity = await authenticate(request, "write:follows")
    runtime = _runtime(request)
    params = await read_params(request)
    languages = _languages_param(params)
    viewer = identity.actor_id
    async with runtime.sessions() as session:
        target = await _account(session, request.path_params["id"])
        if await is_blocked(session, viewer, target.id):
            raise ApiError(403, "This action is not allowed")
        existed = await session.scalar(select(Follow.id).where(
            Follow.follower_id == viewer, Follow.followee_id == target.id)) is not None
    await _command(Outbox(runtime).follow(viewer, target.id))
    await set_follow_options(runtime, viewer, target.id, reblogs=params.flag("reblogs"),
                             notify=params.flag("notify"), languages=languages, reset=not existed)
    return await _relationship_response(runtime, viewer, target.id)


async def unfollow(request: Request) -> JSONResponse:
    identity = await authenticate(request, "write:follows")
    runtime = _runtime(request)
    async with runtime.sessions() as session:
        target = await _account(session, request.path_params["id"])
    await _command(Outbox(runtime).unfollow(identity.actor_id, target.id))
    await clear_follow_options(runtime, identity.actor_id, target.id)
    return await _relationship_response(runtime, identity.actor_id, target.id)


async def remove_from_followers(request: Request) -> JSONResponse:
    """Make an account stop following the viewer (a remote server is sent a Reject of its Follow)."""
    identity = await authenticate(request, "write:follows")
    runtime = _runtime(request)
    async with runtime.sessions() as session:
        target = await _account(session, request.path_params["id"])
        following = await session.scalar(select(Follow.id).where(
            Follow.follower_id == target.id, Follow.followee_id == identity.actor_id, Follow.state == "accepted"))
    if following is not None:
        await _command(Outbox(runtime).answer_follow_request(identity.actor_id, target.id, accept=False))
    return await _relationship_response(runtime, identity.actor_id, target.id)


async def block(request: Request) -> JSONResponse:
    identity = await authenticate(request, "write:blocks")
    runtime = _runtime(request)
    async with runtime.sessions() as session:
        target = await _account(session, request.path_params["id"])
    if target.id == identity.actor_id:
        raise unprocessable("you cannot block yourself")
    await _command(Outbox(runtime).block(identity.actor_id, target.id))
    await clear_follow_options(runtime, identity.actor_id, target.id)
    return await _relationship_response(runtime, identity.actor_id, target.id)


async def unblock(request: Request) -> JSONResponse:
    identity = await authenticate(request, "write:blocks")
    runtime = _runtime(request)
    async with runtime.sessions() as session:
        target = await _account(session, request.path_params["id"])
    await _command(Outbox(runtime).unblock(identity.actor_id, target.id))
    return await _relationship_response(runtime, identity.actor_id, target.id)


async def mute_account(request: Request) -> JSONResponse:
    identity = await authenticate(request, "write:mutes")
    runtime = _runtime(request)
    params = await read_params(request)
    notifications = params.flag("notifications")
    duration = params.integer("duration", 0)
    async with runtime.sessions() as session:
        target = await _account(session, request.path_params["id"])
    try:
        await mute(runtime, identity.actor_id, target.id, notifications=True if notifications is None
                   else notifications, duration=duration)
    except RelationshipError as exc:
        raise unprocessable(str(exc)) from exc
    return await _relationship_response(runtime, identity.actor_id, target.id)


async def unmute_account(request: Request) -> JSONResponse:
    identity = await authenticate(request, "write:mutes")
    runtime = _runtime(request)
    async with runtime.sessions() as session:
        target = await _account(session, request.path_params["id"])
    await unmute(runtime, identity.actor_id, target.id)
    return await _relationship_response(runtime, identity.actor_id, target.id)


async def account_note(request: Request) -> JSONResponse:
    """The viewer's private note on an account (`comment`; empty removes it), shown in the relationship."""
    identity = await authenticate(request, "write:accounts")
    runtime = _runtime(request)
    params = await read_params(request)
    async with runtime.sessions() as session:
        target = await _account(session, request.path_params["id"])
    try:
        await set_account_note(runtime, identity.actor_id, target.id, params.text("comment") or "")
    except RelationshipError as exc:
        raise unprocessable(str(exc), "comment") from exc
    return await _relationship_response(runtime, identity.actor_id, target.id)


async def endorse_account(request: Request) -> JSONResponse:
    """Feature a followed account on the profile (`pin`, renamed `endorse` in Mastodon 4.4)."""
    identity = await authenticate(request, "write:accounts")
    runtime = _runtime(request)
    async with runtime.sessions() as session:
        target = await _account(session, request.path_params["id"])
    try:
        await endorse(runtime, identity.actor_id, target.id)
    except RelationshipError as exc:
        raise unprocessable(str(exc)) from exc
    return await _relationship_response(runtime, identity.actor_id, target.id)


async def unendorse_account(request: Request) -> JSONResponse:
    identity = await authenticate(request, "write:accounts")
    runtime = _runtime(request)
    async with runtime.sessions() as session:
        target = await _account(session, request.path_params["id"])
    await unendorse(runtime, identity.actor_id, target.id)
    return await _relationship_response(runtime, identity.actor_id, target.id)


# -- follow requests ------------------------------------------------------------------------------


async def follow_requests(request: Request) -> JSONResponse:
    identity = await authenticate(request, "read:follows")
    runtime = _runtime(request)
    page = Page.from_request(request, default=40, maximum=80)
    stmt = (select(Follow.id, Actor).join(Actor, Actor.id == Follow.follower_id)
            .where(Follow.followee_id == identity.actor_id, Follow.state == "pending",
                   Actor.suspended_at.is_(None), Actor.deleted_at.is_(None)))
    return await _account_page(request, runtime, page, stmt, Follow.id)


async def _answer_request(request: Request, *, accept: bool) -> JSONResponse:
    identity = await authenticate(request, "write:follows")
    runtime = _runtime(request)
    follower_id = _parse_id(request.path_params["id"])
    async with runtime.sessions() as session:
        pending = await session.scalar(select(Follow.id).where(
            Follow.follower_id == follower_id, Follow.followee_id == identity.actor_id, Follow.state == "pending"))
    if pending is None:
        raise not_found()
    await _command(Outbox(runtime).answer_follow_request(identity.actor_id, follower_id, accept=accept))
    return await _relationship_response(runtime, identity.actor_id, follower_id)


async def authorize_follow_request(request: Request) -> JSONResponse:
    return await _answer_request(request, accept=True)


async def reject_follow_request(request: Request) -> JSONResponse:
    return await _answer_request(request, accept=False)


# -- blocks, mutes, favourites, bookmarks ---------------------------------------------------------


async def _account_page(request: Request, runtime: Runtime, page: Page, stmt: Select[Any], column: Any,
                        extra: Any = None) -> JSONResponse:
    """A page of accounts paginated on the id of the row that links them to the viewer."""
    async with runtime.sessions() as session:
        rows = page.order((await session.execute(page.apply(stmt, column))).all())
        docs = await render_accounts(session, runtime.settings, [row[1] for row in rows])
    if extra is not None:
        for doc, row in zip(docs, rows, strict=True):
            doc.update(extra(row))
    return _json(docs, link_header(request, [row[0] for row in rows]))


async def blocks(request: Request) -> JSONResponse:
    identity = await authenticate(request, "read:blocks")
    runtime = _runtime(request)
    page = Page.from_request(request, default=40, maximum=80)
    stmt = (select(Block.id, Actor).join(Actor, Actor.id == Block.target_id)
            .where(Block.actor_id == identity.actor_id, Actor.deleted_at.is_(None)))
    return await _account_page(request, runtime, page, stmt, Block.id)


async def mutes(request: Request) -> JSONResponse:
    identity = await authenticate(request, "read:mutes")
    runtime = _runtime(request)
    page = Page.from_request(request, default=40, maximum=80)
    stmt = (select(Mute.id, Actor, Mute.expires_at).join(Actor, Actor.id == Mute.target_id)
            .where(Mute.actor_id == identity.actor_id, active_mute(), Actor.deleted_at.is_(None)))
    return await _account_page(request, runtime, page, stmt, Mute.id,
                               extra=lambda row: {"mute_expires_at": iso(row[2])})


async def _status_page(request: Request, model: type[Favourite] | type[Bookmark], scope: str) -> JSONResponse:
    identity = await authenticate(request, scope)
    runtime = _runtime(request)
    page = Page.from_request(request, default=20, maximum=40)
    stmt = select(model.id, Status).join(Status, Status.id == model.status_id).where(
        model.actor_id == identity.actor_id)
    async with runtime.sessions() as session:
        rows = page.order((await session.execute(page.apply(stmt, model.id))).all())
        docs = await StatusRenderer(session, runtime.settings, identity.actor_id).render([s for _, s in rows])
    return _json(docs, link_header(request, [row_id for row_id, _ in rows]))


async def favourites(request: Request) -> JSONResponse:
    return await _status_page(request, Favourite, "read:favourites")


async def bookmarks(request: Request) -> JSONResponse:
    return await _status_page(request, Bookmark, "read:bookmarks")


routes: list[BaseRoute] = [
    Route("/api/v1/accounts/verify_credentials", verify_credentials, methods=["GET"]),
    Route("/api/v1/accounts/update_credentials", update_credentials, methods=["PATCH"]),
    Route("/api/v1/accounts/relationships", get_relationships, methods=["GET"]),
    Route("/api/v1/accounts/familiar_followers", familiar_followers, methods=["GET"]),
    Route("/api/v1/accounts/search", search, methods=["GET"]),
    Route("/api/v1/accounts/lookup", lookup_account, methods=["GET"]),
    Route("/api/v1/accounts", list_accounts, methods=["GET"]),
    Route("/api/v1/accounts/{id}", show_account, methods=["GET"]),
    Route("/api/v1/accounts/{id}/statuses", account_statuses, methods=["GET"]),
    Route("/api/v1/accounts/{id}/followers", account_followers, methods=["GET"]),
    Route("/api/v1/accounts/{id}/following", account_following, methods=["GET"]),
    Route("/api/v1/accounts/{id}/featured_tags", account_featured_tags, methods=["GET"]),
    Route("/api/v1/accounts/{id}/follow", follow, methods=["POST"]),
    Route("/api/v1/accounts/{id}/unfollow", unfollow, methods=["POST"]),
    Route("/api/v1/accounts/{id}/remove_from_followers", remove_from_followers, methods=["POST"]),
    Route("/api/v1/accounts/{id}/block", block, methods=["POST"]),
    Route("/api/v1/accounts/{id}/unblock", unblock, methods=["POST"]),
    Route("/api/v1/accounts/{id}/mute", mute_account, methods=["POST"]),
    Route("/api/v1/accounts/{id}/unmute", unmute_account, methods=["POST"]),
    Route("/api/v1/accounts/{id}/note", account_note, methods=["POST"]),
    Route("/api/v1/accounts/{id}/pin", endorse_account, methods=["POST"]),
    Route("/api/v1/accounts/{id}/unpin", unendorse_account, methods=["POST"]),
    Route("/api/v1/accounts/{id}/endorse", endorse_account, methods=["POST"]),
    Route("/api/v1/accounts/{id}/unendorse", unendorse_account, methods=["POST"]),
    Route("/api/v1/accounts/{id}/endorsements", account_endorsements, methods=["GET"]),
    Route("/api/v1/follow_requests", follow_requests, methods=["GET"]),
    Route("/api/v1/follow_requests/{id}/authorize", authorize_follow_request, methods=["POST"]),
    Route("/api/v1/follow_requests/{id}/reject", reject_follow_request, methods=["POST"]),
    Route("/api/v1/blocks", blocks, methods=["GET"]),
    Route("/api/v1/mutes", mutes, methods=["GET"]),
    Route("/api/v1/endorsements", endorsements, methods=["GET"]),
    Route("/api/v1/featured_tags", own_featured_tags, methods=["GET"]),
    Route("/api/v1/favourites", favourites, methods=["GET"]),
    Route("/api/v1/bookmarks", bookmarks, methods=["GET"]),
]
