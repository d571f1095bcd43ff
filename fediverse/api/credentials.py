"""Mastodon client API: the signed-in account's own profile (verify_credentials, update_credentials).

A thin edge: parameters come through the shared parser (`fediverse.api.params`), pictures through
the shared media code, the profile change through `Outbox.update_profile` (it federates an Update)
and posting defaults through `actors.preferences`.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from actors.preferences import PreferenceError, update_posting_defaults, validate_posting_defaults
from fediverse.api.auth import Identity, authenticate
from fediverse.api.domain_calls import runtime_of
from fediverse.api.errors import not_found, unprocessable
from fediverse.api.params import as_list, flag_param, hash_param, read_params, scalar_text
from fediverse.api.serializers.accounts import credential_account_to_api
from fediverse.config import Settings
from fediverse.media import MediaError, StoredMedia, discard, media_storage, store_upload
from fediverse.models import Actor, Follow, User
from fediverse.runtime import Runtime
from fediverse.sanitize import html_to_text, text_to_html
from outbox.commands import CommandError, Outbox

MAX_DISPLAY_NAME = 30
MAX_NOTE = 500
MAX_FIELDS = 4
MAX_FIELD_TEXT = 255
SWITCHES = (("locked", "manually_approves_followers"), ("bot", "bot"), ("discoverable", "discoverable"))
IMAGES: tuple[tuple[Literal["avatar", "header"], str, str], ...] = (
    ("avatar", "icon_url", "icon_static_url"), ("header", "image_url", "image_static_url"))


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


async def verify_credentials(request: Request) -> JSONResponse:
    identity = await authenticate(request, "profile")  # `profile` is also granted by read and read:accounts
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        return JSONResponse(await _credential_account(session, runtime.settings, identity))


def _field_html(value: str) -> str:
    """A profile field value as Mastodon shows it: escaped text with its links made clickable."""
    rendered = text_to_html(value)
    if rendered.startswith("<p>") and rendered.endswith("</p>"):
        rendered = rendered[3:-4]
    return rendered


def _sent_fields(params: dict[str, Any]) -> list[dict[str, str]] | None:
    """The `fields_attributes` entries as sent (`[N][name|value]`, `[][...]`, a JSON list or object), white
    space folded; None when no entry has a name or a value."""
    entries = []
    for entry in as_list(params.get("fields_attributes")):
        if not isinstance(entry, dict):
            continue
        parts = {part: scalar_text(entry, part) for part in ("name", "value")}
        sent = {part: " ".join(text.split()) for part, text in parts.items() if text is not None}
        if sent:
            entries.append(sent)
    return entries or None


def _profile_fields(params: dict[str, Any]) -> list[dict[str, str]] | None:
    """The profile fields to store; None when none were sent, [] for an explicit empty `fields_attributes`."""
    entries = _sent_fields(params)
    if entries is None:
        return [] if params.get("fields_attributes") == "" else None
    fields = [e for e in entries if e.get("name") or e.get("value")]
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


def _profile_changes(params: dict[str, Any]) -> dict[str, Any]:
    """The columns of `Outbox.update_profile` that the request changes, checked."""
    changes: dict[str, Any] = {}
    display_name = scalar_text(params, "display_name")
    if display_name is not None:
        display_name = display_name.strip()
        if len(display_name) > MAX_DISPLAY_NAME:
            raise unprocessable(f"display name is limited to {MAX_DISPLAY_NAME} characters", "display_name")
        changes["display_name"] = display_name
    note = scalar_text(params, "note")
    if note is not None:
        if len(note) > MAX_NOTE:
            raise unprocessable(f"note is limited to {MAX_NOTE} characters", "note")
        changes["summary"] = text_to_html(note)
        changes["source_note"] = note
    for name, column in SWITCHES:
        value = flag_param(params, name)
        if value is not None:
            changes[column] = value
    fields = _profile_fields(params)
    if fields is not None:
        changes["fields_json"] = json.dumps(fields, ensure_ascii=False)
    return changes


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
    runtime = runtime_of(request)
    files: dict[str, UploadFile] = {}
    params = await read_params(request, files)
    changes = _profile_changes(params)
    source = hash_param(params, "source")
    privacy = scalar_text(source, "privacy")
    sensitive = flag_param(source, "sensitive")
    language = scalar_text(source, "language")
    try:
        validate_posting_defaults(privacy, language)
    except PreferenceError as exc:
        raise unprocessable(str(exc), "source") from exc
    assert identity.actor is not None
    stored: list[str] = []
    try:
        for purpose, column, static_column in IMAGES:
            upload = files.get(purpose)
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
        return JSONResponse(await _credential_account(session, runtime.settings, identity))


routes: list[BaseRoute] = [
    Route("/api/v1/accounts/verify_credentials", verify_credentials, methods=["GET"]),
    Route("/api/v1/accounts/update_credentials", update_credentials, methods=["PATCH"]),
]
