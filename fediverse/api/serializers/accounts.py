"""Account and Relationship entities."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fediverse.as2 import format_datetime
from fediverse.config import Settings
from fediverse.models import Actor, User


def iso(value: datetime | None) -> str | None:
    """Mastodon's timestamp format (milliseconds, Z)."""
    if value is None:
        return None
    return format_datetime(value).replace("Z", ".000Z")


def default_avatar(settings: Settings) -> str:
    return f"{settings.base_url}/static/avatar.png"


def default_header(settings: Settings) -> str:
    return f"{settings.base_url}/static/header.png"


def acct(actor: Actor) -> str:
    return actor.username if actor.domain is None else f"{actor.username}@{actor.domain}"


# Profile field naming the kind of account: shown by every Mastodon app, with the verified tick when an
# admin verified the account. Residents (the default kind, and what remote accounts are) get no field.
KIND_FIELD_NAME = "Type de compte"
KIND_LABELS = {"association": "Association", "official": "Élu·e", "shop": "Commerce",
               "collectivity": "Collectivité"}


def _stored_fields(actor: Actor) -> list[dict[str, Any]]:
    return [
        {"name": f.get("name", ""), "value": f.get("value", ""), "verified_at": f.get("verified_at")}
        for f in json.loads(actor.fields_json or "[]") if isinstance(f, dict)
    ]


def _kind_field(actor: Actor) -> list[dict[str, Any]]:
    label = KIND_LABELS.get(actor.kind)
    if label is None:
        return []
    return [{"name": KIND_FIELD_NAME, "value": label, "verified_at": iso(actor.verified_at)}]


def account_to_api(actor: Actor, settings: Settings, *, moved: dict[str, Any] | None = None) -> dict[str, Any]:
    avatar = actor.icon_url or default_avatar(settings)
    header = actor.image_url or default_header(settings)
    fields = [*_stored_fields(actor), *_kind_field(actor)]
    created = actor.published.replace(hour=0, minute=0, second=0, microsecond=0)
    doc: dict[str, Any] = {
        "id": str(actor.id),
        "username": actor.username,
        "acct": acct(actor),
        "url": actor.url or actor.uri,
        "uri": actor.uri,
        "display_name": actor.display_name or "",
        "note": actor.summary or "",
        "avatar": avatar,
        "avatar_static": actor.icon_static_url or avatar,
        "header": header,
        "header_static": actor.image_static_url or header,
        "locked": actor.manually_approves_followers,
        "fields": fields,
        "emojis": [],
        "bot": actor.bot or actor.actor_type in ("Application", "Service"),
        "group": actor.actor_type == "Group",
        "discoverable": actor.discoverable,
        "indexable": actor.discoverable,
        "hide_collections": False,
        "noindex": not actor.discoverable,
        "created_at": iso(created),
        "last_status_at": actor.last_status_at.date().isoformat() if actor.last_status_at else None,
        "statuses_count": actor.statuses_count,
        "followers_count": actor.followers_count,
        "following_count": actor.following_count,
        # Our extensions: the kind of account on the territory (resident, association, ...) and whether an
        # admin verified it (the same fact as the kind profile field's `verified_at`).
        "kind": actor.kind,
        "verified": actor.verified_at is not None,
    }
    if moved is not None:
        doc["moved"] = moved
    return doc


def credential_account_to_api(actor: Actor, user: User | None, settings: Settings,
                              follow_requests_count: int = 0) -> dict[str, Any]:
    """verify_credentials/update_credentials: the account plus its editable `source`."""
    doc = account_to_api(actor, settings)
    doc["source"] = {
        "privacy": user.default_visibility if user else "public",
        "sensitive": user.default_sensitive if user else False,
        "language": (user.default_language if user else None) or "",
        "note": actor.source_note or "",
        # Only what the user typed: the kind field is computed, and apps send `source.fields` back on save.
        "fields": [{"name": f["name"], "value": f["value"], "verified_at": None} for f in _stored_fields(actor)],
        "follow_requests_count": follow_requests_count,
        "indexable": actor.discoverable,
        "hide_collections": False,
        "discoverable": actor.discoverable,
    }
    doc["role"] = {"id": "-99" if not (user and user.is_admin) else "3", "name": "Admin" if user and user.is_admin
                   else "", "permissions": "1" if user and user.is_admin else "0", "color": "", "highlighted": False}
    return doc
