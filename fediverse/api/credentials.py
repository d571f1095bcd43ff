"""Mastodon client API: the signed-in account's own profile (verify_credentials, update_credentials).

A thin edge: parameters come through the shared parser (`fediverse.api.params`), the profile change
through the domain's `outbox.profile_edit` (the website's settings page uses it too: same limits,
pictures through the shared media code, an Update federated) and posting defaults through
`actors.preferences`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from actors.preferences import PreferenceError, update_posting_defaults, validate_posting_defaults
from fediverse.api.auth import Identity, authenticate
from fediverse.api.domain_calls import runtime_of
from fediverse.api.errors import ApiError, not_found, unprocessable
from fediverse.api.params import as_list, flag_param, hash_param, read_params, scalar_text
from fediverse.api.serializers.accounts import credential_account_to_api
from fediverse.config import Settings
from fediverse.models import Actor, Follow, User
from outbox.commands import CommandError
from outbox.profile_edit import (
    MAX_DISPLAY_NAME,
    MAX_FIELD_TEXT,
    MAX_FIELDS,
    MAX_NOTE,
    PictureKind,
    PictureUpload,
    ProfileEdit,
    ProfileError,
    ProfileField,
    problems_of,
    save_profile,
    stored_fields,
)


async def _credential_account(session: AsyncSession, settings: Settings, identity: Identity) -> dict[str, Any]:
    actor = await session.get(Actor, identity.actor_id, populate_existing=True)
    if actor is None:
        raise not_found()
    user = await session.get(User, identity.user.id, populate_existing=True) if identity.user else None
    requests = await session.scalar(select(func.count()).select_from(Follow).where(
        Follow.followee_id == actor.id, Follow.state == "pending")) or 0
    doc = credential_account_to_api(actor, user, settings, requests)
    # `source.fields` are what the user typed, not the linkified HTML of `fields`.
    doc["source"]["fields"] = [{"name": f.name, "value": f.value, "verified_at": None} for f in stored_fields(actor)]
    return doc


async def verify_credentials(request: Request) -> JSONResponse:
    identity = await authenticate(request, "profile")  # `profile` is also granted by read and read:accounts
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        return JSONResponse(await _credential_account(session, runtime.settings, identity))


def _sent_fields(params: dict[str, Any]) -> list[ProfileField] | None:
    """The `fields_attributes` entries as sent (`[N][name|value]`, `[][...]`, a JSON list or object);
    None when none were sent, [] for an explicit empty `fields_attributes` (clears them)."""
    entries = []
    for entry in as_list(params.get("fields_attributes")):
        if not isinstance(entry, dict):
            continue
        name, value = scalar_text(entry, "name"), scalar_text(entry, "value")
        if name is not None or value is not None:
            entries.append(ProfileField(name or "", value or ""))
    if not entries:
        return [] if params.get("fields_attributes") == "" else None
    return entries


def _profile_edit(params: dict[str, Any]) -> ProfileEdit:
    return ProfileEdit(display_name=scalar_text(params, "display_name"), note=scalar_text(params, "note"),
                       fields=_sent_fields(params), discoverable=flag_param(params, "discoverable"),
                       manually_approves_followers=flag_param(params, "locked"), bot=flag_param(params, "bot"))


async def _pictures(files: dict[str, UploadFile]) -> dict[PictureKind, PictureUpload]:
    pictures: dict[PictureKind, PictureUpload] = {}
    for kind in ("avatar", "header"):
        upload = files.get(kind)
        if upload is not None:
            pictures[kind] = PictureUpload(await upload.read(), upload.filename, upload.content_type)
    return pictures


# The domain's refusal codes, in the words the API has always used.
PROFILE_ERRORS = {
    "display_name_too_long": f"display name is limited to {MAX_DISPLAY_NAME} characters",
    "note_too_long": f"note is limited to {MAX_NOTE} characters",
    "too_many_fields": f"at most {MAX_FIELDS} profile fields",
    "field_too_long": f"profile field names and values are limited to {MAX_FIELD_TEXT} characters",
}


def _refusal(exc: ProfileError) -> ApiError:
    field = "fields" if exc.field.startswith("field") else exc.field
    return unprocessable(exc.detail or PROFILE_ERRORS.get(exc.reason, exc.reason), field)


async def update_credentials(request: Request) -> JSONResponse:
    identity = await authenticate(request, "write:accounts")
    runtime = runtime_of(request)
    files: dict[str, UploadFile] = {}
    params = await read_params(request, files)
    edit = _profile_edit(params)
    problems = problems_of(edit)
    if problems:
        raise _refusal(problems[0])
    source = hash_param(params, "source")
    privacy = scalar_text(source, "privacy")
    sensitive = flag_param(source, "sensitive")
    language = scalar_text(source, "language")
    try:
        validate_posting_defaults(privacy, language)
    except PreferenceError as exc:
        raise unprocessable(str(exc), "source") from exc
    assert identity.actor is not None
    edit.pictures = await _pictures(files)
    try:
        await save_profile(runtime, identity.actor.id, edit)
    except ProfileError as exc:
        raise _refusal(exc) from exc
    except CommandError as exc:
        raise unprocessable(str(exc)) from exc
    if identity.user is not None and (privacy, sensitive, language) != (None, None, None):
        await update_posting_defaults(runtime, identity.user.id, privacy=privacy, sensitive=sensitive,
                                      language=language)
    async with runtime.sessions() as session:
        return JSONResponse(await _credential_account(session, runtime.settings, identity))


routes: list[BaseRoute] = [
    Route("/api/v1/accounts/verify_credentials", verify_credentials, methods=["GET"]),
    Route("/api/v1/accounts/update_credentials", update_credentials, methods=["PATCH"]),
]
