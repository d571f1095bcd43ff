"""Instance metadata (`/api/v1/instance`, `/api/v2/instance` and their sub-resources).

Apps call these before anything else (Mastodon.py reads `version` to decide which endpoints
exist, Tusky and Elk read the limits in `configuration`), so every field Mastodon documents
is present with its documented type, even when this server has nothing to put in it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, distinct, func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

import fediverse
from fediverse import SOFTWARE_NAME, __version__
from fediverse.api.auth import optional_identity
from fediverse.api.domain_calls import runtime_of
from fediverse.api.errors import not_found
from fediverse.api.serializers.accounts import account_to_api, iso
from fediverse.config import Settings
from fediverse.ids import id_floor
from fediverse.media import DESCRIPTION_MAX, SIZE_LIMITS
from fediverse.models import Actor, OAuthToken, Status, User
from fediverse.runtime import Runtime
from outbox import limits

# Mastodon.py parses the first three numbers; 4.3.0 is the API level we implement.
MASTODON_API_LEVEL = "4.3.0"
VERSION = f"{MASTODON_API_LEVEL} (compatible; {SOFTWARE_NAME} {__version__})"

# The limits the outbox and the media processing enforce, as Mastodon advertises them.
MAX_CHARACTERS = limits.MAX_TEXT_LENGTH
MAX_MEDIA_ATTACHMENTS = limits.MAX_MEDIA
CHARACTERS_RESERVED_PER_URL = 23
IMAGE_MIME_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/heif", "image/avif"]
VIDEO_MIME_TYPES = ["video/webm", "video/mp4", "video/quicktime", "video/ogg"]
AUDIO_MIME_TYPES = ["audio/wave", "audio/wav", "audio/x-wav", "audio/x-pn-wave", "audio/vnd.wave", "audio/ogg",
                    "audio/vorbis", "audio/mpeg", "audio/mp3", "audio/webm", "audio/flac", "audio/aac",
                    "audio/m4a", "audio/x-m4a", "audio/mp4", "audio/3gpp", "video/x-ms-asf"]
MEDIA_LIMITS = {
    "supported_mime_types": IMAGE_MIME_TYPES + VIDEO_MIME_TYPES + AUDIO_MIME_TYPES,
    "description_limit": DESCRIPTION_MAX,
    "image_size_limit": SIZE_LIMITS["image"],
    "image_matrix_limit": 33_177_600,
    "video_size_limit": SIZE_LIMITS["video"],
    "video_frame_rate_limit": 120,
    "video_matrix_limit": 8_294_400,
}
POLL_LIMITS = {"max_options": limits.MAX_POLL_OPTIONS, "max_characters_per_option": limits.MAX_POLL_OPTION_CHARS,
               "min_expiration": limits.MIN_POLL_EXPIRATION, "max_expiration": limits.MAX_POLL_EXPIRATION}
STATUS_LIMITS = {"max_characters": MAX_CHARACTERS, "max_media_attachments": MAX_MEDIA_ATTACHMENTS,
                 "characters_reserved_per_url": CHARACTERS_RESERVED_PER_URL}
ACTIVITY_WEEKS = 12
LANGUAGE_NAMES = {"fr": "Français", "en": "English", "br": "Brezhoneg", "oc": "Occitan", "eu": "Euskara",
                  "co": "Corsu", "ca": "Català", "de": "Deutsch", "es": "Español", "it": "Italiano"}


def title_of(settings: Settings) -> str:
    return settings.instance_name or settings.domain


def description_of(settings: Settings) -> str:
    """One line for app listings: the territory this server serves, in the instance's language."""
    if settings.territory_name:
        return f"Le réseau social local de {settings.territory_name}."
    return f"Le réseau social local de {title_of(settings)}."


def streaming_url(settings: Settings) -> str:
    return ("wss://" if settings.scheme == "https" else "ws://") + settings.domain


def thumbnail_url(settings: Settings) -> str:
    return f"{settings.base_url}/static/header.png"


def registrations_enabled(settings: Settings) -> bool:
    return settings.registration in ("open", "approval")


async def _contact_account(runtime: Runtime) -> dict[str, Any] | None:
    """The first administrator's account: Mastodon shows a contact so people know whom to ask."""
    async with runtime.sessions() as session:
        actor = await session.scalar(
            select(Actor).join(User, User.actor_id == Actor.id)
            .where(User.is_admin.is_(True), Actor.suspended_at.is_(None), Actor.deleted_at.is_(None))
            .order_by(User.created_at, User.id).limit(1))
    return account_to_api(actor, runtime.settings) if actor is not None else None


def _local_users() -> Any:
    """Local people who can log in (the instance actor has no `users` row)."""
    return (select(func.count()).select_from(User).join(Actor, Actor.id == User.actor_id)
            .where(Actor.domain.is_(None), Actor.suspended_at.is_(None), Actor.deleted_at.is_(None),
                   User.approved.is_(True)))


async def _stats(runtime: Runtime) -> dict[str, int]:
    async with runtime.sessions() as session:
        users = await session.scalar(_local_users())
        statuses = await session.scalar(select(func.count()).select_from(Status).where(
            Status.local.is_(True), Status.reblog_of_id.is_(None)))
        domains = await session.scalar(select(func.count(distinct(Actor.domain))).where(Actor.domain.is_not(None)))
    return {"user_count": int(users or 0), "status_count": int(statuses or 0), "domain_count": int(domains or 0)}


async def _active_month(runtime: Runtime) -> int:
    """Users who logged in, used an app or posted in the last 30 days."""
    cutoff = datetime.now(UTC) - timedelta(days=30)
    posted = select(Status.id).where(Status.actor_id == Actor.id, Status.local.is_(True),
                                     Status.id >= id_floor(cutoff.timestamp())).exists()
    used_app = select(OAuthToken.id).where(OAuthToken.user_id == User.id, OAuthToken.last_used_at >= cutoff).exists()
    query = _local_users().where((User.last_login_at >= cutoff) | posted | used_app)
    async with runtime.sessions() as session:
        return int(await session.scalar(query) or 0)


async def instance_v1(request: Request) -> Response:
    runtime = runtime_of(request)
    await optional_identity(request)
    settings = runtime.settings
    contact = await _contact_account(runtime)
    return JSONResponse({
        "uri": settings.domain,
        "title": title_of(settings),
        "short_description": description_of(settings),
        "description": description_of(settings),
        "email": "",
        "version": VERSION,
        "urls": {"streaming_api": streaming_url(settings)},
        "stats": await _stats(runtime),
        "thumbnail": thumbnail_url(settings),
        "languages": [settings.language],
        "registrations": registrations_enabled(settings),
        "approval_required": settings.registration == "approval",
        "invites_enabled": settings.registration == "invite",
        "configuration": {
            "accounts": {"max_featured_tags": 10},
            "statuses": STATUS_LIMITS,
            "media_attachments": MEDIA_LIMITS,
            "polls": POLL_LIMITS,
        },
        "contact_account": contact,
        "rules": [],
    })


async def instance_v2(request: Request) -> Response:
    runtime = runtime_of(request)
    await optional_identity(request)
    settings = runtime.settings
    base = settings.base_url
    feeds = {"local": "public", "remote": "public"}
    return JSONResponse({
        "domain": settings.domain,
        "title": title_of(settings),
        "version": VERSION,
        # The package declares no repository yet; Mastodon's type is a string, so never null.
        "source_url": str(getattr(fediverse, "SOFTWARE_REPOSITORY", "") or ""),
        "description": description_of(settings),
        "usage": {"users": {"active_month": await _active_month(runtime)}},
        "thumbnail": {"url": thumbnail_url(settings)},
        "icon": [{"src": f"{base}/static/avatar.png", "size": "120x120"}],
        "languages": [settings.language],
        "configuration": {
            "urls": {"streaming": streaming_url(settings), "status": None, "about": base,
                     "privacy_policy": None, "terms_of_service": None},
            "vapid": {"public_key": ""},
            "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5, "max_note_length": 500,
                         "max_profile_fields": 4, "profile_field_name_limit": 255, "profile_field_value_limit": 255},
            "statuses": STATUS_LIMITS,
            "media_attachments": MEDIA_LIMITS,
            "polls": POLL_LIMITS,
            "translation": {"enabled": False},
            "timelines_access": {"live_feeds": feeds, "hashtag_feeds": feeds, "trending_link_feeds": feeds},
            "limited_federation": False,
        },
        "registrations": {
            "enabled": registrations_enabled(settings),
            "approval_required": settings.registration == "approval",
            "reason_required": False,
            "message": None if registrations_enabled(settings) else "Les inscriptions sont fermées.",
            "min_age": None,
            "url": None,
        },
        "api_versions": {"mastodon": 2},
        "contact": {"email": "", "account": await _contact_account(runtime)},
        "rules": [],
    })


async def peers(request: Request) -> Response:
    """Remote domains we know an actor on (Mastodon lists the domains it federates with)."""
    runtime = runtime_of(request)
    await optional_identity(request)
    async with runtime.sessions() as session:
        domains = await session.scalars(
            select(Actor.domain).where(Actor.domain.is_not(None)).distinct().order_by(Actor.domain))
        return JSONResponse([d for d in domains if d])


def _week_starts(now: datetime) -> list[datetime]:
    """Starts (Monday 00:00 UTC) of the current week and the 11 before it, newest first."""
    monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return [monday - timedelta(weeks=i) for i in range(ACTIVITY_WEEKS)]


def _bucket_sums(column: Any, starts: list[datetime]) -> list[Any]:
    """One SUM(CASE) per week: the counts of all twelve weeks in a single portable query."""
    sums = []
    for i, start in enumerate(starts):
        end = starts[i - 1] if i else start + timedelta(weeks=1)
        sums.append(func.coalesce(func.sum(case((and_(column >= start, column < end), 1), else_=0)), 0))
    return sums


async def activity(request: Request) -> Response:
    """Weekly local statuses, logins and registrations for the last 12 weeks (numbers as strings)."""
    runtime = runtime_of(request)
    await optional_identity(request)
    starts = _week_starts(datetime.now(UTC))
    oldest = starts[-1]
    async with runtime.sessions() as session:
        statuses = (await session.execute(select(*_bucket_sums(Status.published, starts)).where(
            Status.local.is_(True), Status.reblog_of_id.is_(None), Status.published >= oldest))).one()
        logins = (await session.execute(select(*_bucket_sums(User.last_login_at, starts)).where(
            User.last_login_at >= oldest))).one()
        registrations = (await session.execute(select(*_bucket_sums(User.created_at, starts)).where(
            User.created_at >= oldest))).one()
    return JSONResponse([
        {"week": str(int(start.timestamp())), "statuses": str(int(statuses[i])), "logins": str(int(logins[i])),
         "registrations": str(int(registrations[i]))}
        for i, start in enumerate(starts)
    ])


async def rules(request: Request) -> Response:
    await optional_identity(request)
    return JSONResponse([])


def _server_start(settings: Settings) -> str | None:
    """A stable `updated_at` for texts that never change (the data directory's creation)."""
    try:
        stamp = settings.data_dir.stat().st_mtime
    except OSError:
        return None
    return iso(datetime.fromtimestamp(stamp, UTC))


async def extended_description(request: Request) -> Response:
    runtime = runtime_of(request)
    await optional_identity(request)
    settings = runtime.settings
    return JSONResponse({"updated_at": _server_start(settings), "content": f"<p>{description_of(settings)}</p>"})


async def privacy_policy(request: Request) -> Response:
    runtime = runtime_of(request)
    await optional_identity(request)
    return JSONResponse({"updated_at": _server_start(runtime.settings), "content": ""})


async def terms_of_service(request: Request) -> Response:
    """Mastodon answers 404 when no terms of service were published; we publish none yet."""
    await optional_identity(request)
    raise not_found("Record not found")


async def translation_languages(request: Request) -> Response:
    await optional_identity(request)
    return JSONResponse({})


async def domain_blocks(request: Request) -> Response:
    await optional_identity(request)
    return JSONResponse([])


async def languages(request: Request) -> Response:
    runtime = runtime_of(request)
    await optional_identity(request)
    code = runtime.settings.language
    return JSONResponse([{"code": code, "name": LANGUAGE_NAMES.get(code, code)}])


routes: list[BaseRoute] = [
    Route("/api/v1/instance", instance_v1, methods=["GET"]),
    Route("/api/v2/instance", instance_v2, methods=["GET"]),
    Route("/api/v1/instance/peers", peers, methods=["GET"]),
    Route("/api/v1/instance/activity", activity, methods=["GET"]),
    Route("/api/v1/instance/rules", rules, methods=["GET"]),
    Route("/api/v1/instance/extended_description", extended_description, methods=["GET"]),
    Route("/api/v1/instance/privacy_policy", privacy_policy, methods=["GET"]),
    Route("/api/v1/instance/terms_of_service", terms_of_service, methods=["GET"]),
    Route("/api/v1/instance/translation_languages", translation_languages, methods=["GET"]),
    Route("/api/v1/instance/domain_blocks", domain_blocks, methods=["GET"]),
    Route("/api/v1/instance/languages", languages, methods=["GET"]),
]
