"""Remote actors: fetched with a signed GET, validated, cached in the database, refreshed when stale.

Every remote document is untrusted: the id must be on the host we fetched it from, the key must
belong to the actor, and nothing may claim our own domain.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import urldefrag

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.as2 import ACTOR_TYPES, id_of, parse_datetime, text_of, type_of
from fediverse.db import insert_ignoring_conflicts, utcnow
from fediverse.http import FetchError
from fediverse.ids import new_id
from fediverse.models import Actor
from fediverse.places import parse_place
from fediverse.runtime import Runtime
from fediverse.sanitize import sanitize_html
from fediverse.uris import Uris, host_of

log = logging.getLogger(__name__)


class ActorError(ValueError):
    """The remote actor document cannot be used; the message says why."""


def _url_or_none(value: Any, runtime_uris: Uris) -> str | None:
    ref = value if isinstance(value, str) else id_of(value)
    if not isinstance(ref, str) or len(ref) > 2048:
        return None
    allowed = ("https://", "http://") if runtime_uris.settings.insecure_http else ("https://",)
    return ref if ref.startswith(allowed) else None


def _image_url(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        url = value.get("url")
        if isinstance(url, list):
            url = url[0] if url else None
        if isinstance(url, dict):
            url = url.get("href")
        return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None
    return None


def actor_fields_from_document(doc: dict[str, Any], uris: Uris, expected_host: str | None = None) -> dict[str, Any]:
    """Validate a remote actor document and map it to Actor column values."""
    actor_id = doc.get("id")
    if not isinstance(actor_id, str) or not _url_or_none(actor_id, uris):
        raise ActorError("actor id missing or not an https URL")
    host = host_of(actor_id)
    if expected_host is not None and host != expected_host:
        raise ActorError(f"actor id {actor_id} is not on {expected_host}")
    if uris.is_local(actor_id):
        raise ActorError("remote document claims one of our own ids")
    kind = type_of(doc)
    if kind not in ACTOR_TYPES:
        raise ActorError(f"not an actor type: {kind or 'none'}")
    inbox = _url_or_none(doc.get("inbox"), uris)
    if not inbox:
        raise ActorError("actor has no inbox")
    key = doc.get("publicKey")
    if isinstance(key, list):
        key = next((k for k in key if isinstance(k, dict) and k.get("owner") == actor_id), key[0] if key else None)
    key_id = key_pem = None
    if isinstance(key, dict):
        owner = key.get("owner")
        if owner is not None and owner != actor_id:
            raise ActorError("publicKey.owner is not the actor")
        key_id = key.get("id") if isinstance(key.get("id"), str) else None
        key_pem = key.get("publicKeyPem") if isinstance(key.get("publicKeyPem"), str) else None
        if key_id and host_of(key_id) != host:
            raise ActorError("publicKey.id is on another host")
    username = text_of(doc.get("preferredUsername"), 255) or actor_id.rstrip("/").rsplit("/", 1)[-1][:255]
    endpoints = doc.get("endpoints") if isinstance(doc.get("endpoints"), dict) else {}
    shared_inbox = _url_or_none(endpoints.get("sharedInbox"), uris)
    aliases = [a for a in (doc.get("alsoKnownAs") or []) if isinstance(a, str)][:20] \
        if isinstance(doc.get("alsoKnownAs"), list) else []
    fields = [
        {"name": text_of(item.get("name"), 255), "value": sanitize_html(text_of(item.get("value"), 2048))}
        for item in (doc.get("attachment") if isinstance(doc.get("attachment"), list) else [])[:20]
        if isinstance(item, dict) and type_of(item) == "PropertyValue"
    ]
    return {
        "uri": actor_id,
        "fields_json": json.dumps(fields),
        "username": username,
        "username_lower": username.lower(),
        "domain": host,
        "domain_key": host,
        "actor_type": kind,
        "kind": {"Group": "association", "Organization": "shop", "Application": "instance",
                 "Service": "instance"}.get(kind, "resident"),
        "display_name": text_of(doc.get("name"), 500),
        "summary": sanitize_html(text_of(doc.get("summary"), 20_000)),
        "url": _url_or_none(doc.get("url"), uris),
        "icon_url": _image_url(doc.get("icon")),
        "image_url": _image_url(doc.get("image")),
        "inbox_url": inbox,
        "shared_inbox_url": shared_inbox,
        "outbox_url": _url_or_none(doc.get("outbox"), uris),
        "followers_url": _url_or_none(doc.get("followers"), uris),
        "following_url": _url_or_none(doc.get("following"), uris),
        "featured_url": _url_or_none(doc.get("featured"), uris),
        "public_key_id": key_id,
        "public_key_pem": key_pem,
        "manually_approves_followers": bool(doc.get("manuallyApprovesFollowers") is True),
        "discoverable": bool(doc.get("discoverable") is True),
        "moved_to_uri": _url_or_none(doc.get("movedTo"), uris),
        "also_known_as": json.dumps(aliases),
        "published": parse_datetime(doc.get("published")) or utcnow(),
        "updated": parse_datetime(doc.get("updated")),
        **location_fields(doc.get("location")),
    }


def location_fields(value: Any) -> dict[str, Any]:
    """Where a remote actor says it is (its `location` Place): the INSEE code of its commune, if it
    names one (ours or not), the point and a name. Refreshed on every fetch and Update, so a
    location that disappears is cleared."""
    place = parse_place(value)
    if place is None:
        return {"commune_insee": None, "latitude": None, "longitude": None, "location_name": None}
    return {"commune_insee": place.insee, "latitude": place.latitude, "longitude": place.longitude,
            "location_name": place.name or place.locality}


async def upsert_remote_actor(session: AsyncSession, fields: dict[str, Any], raw: dict[str, Any]) -> Actor:
    """Insert or refresh the row for a validated remote actor."""
    actor = await session.scalar(select(Actor).where(Actor.uri == fields["uri"]))
    if actor is None:
        # A username collision on the same host (renamed account) must not block the new actor.
        clash = await session.scalar(select(Actor).where(
            Actor.username_lower == fields["username_lower"], Actor.domain_key == fields["domain_key"]))
        if clash is not None:
            clash.username_lower = f"{clash.username_lower}~{clash.id}"
            await session.flush()
        # Concurrent requests may fetch the same new actor: insert once, then everyone updates it.
        await session.execute(insert_ignoring_conflicts(session, Actor.__table__, [{"id": new_id(), **fields}], "uri"))
        actor = await session.scalar(select(Actor).where(Actor.uri == fields["uri"]))
        assert actor is not None
    else:
        for key, value in fields.items():
            if key in ("published",):
                continue
            setattr(actor, key, value)
    actor.raw = json.dumps(raw)[:200_000]
    actor.fetched_at = utcnow()
    await session.flush()
    return actor


class ActorResolver:
    """Finds actors by id or key id, fetching what we do not have (or have stale)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def fetch_document(self, url: str) -> dict[str, Any]:
        assert self.runtime.http is not None and self.runtime.instance_signer is not None
        return await self.runtime.http.get_json(url, signer=self.runtime.instance_signer.as_tuple())

    async def get(self, uri: str, *, refresh: bool = False) -> Actor:
        """The actor with this id, from the database when fresh enough, else fetched and stored."""
        uri = urldefrag(uri)[0]
        async with self.runtime.sessions() as session:
            actor = await session.scalar(select(Actor).where(Actor.uri == uri))
        if actor is not None and (actor.is_local or not refresh and not self._stale(actor)):
            return actor
        if self.runtime.uris.is_local(uri):
            raise ActorError(f"no local actor {uri}")
        try:
            doc = await self.fetch_document(uri)
        except FetchError:
            if actor is not None:
                return actor  # serve the cached copy rather than nothing when its host is down
            raise
        fields = actor_fields_from_document(doc, self.runtime.uris, expected_host=host_of(uri))
        async with self.runtime.sessions() as session, session.begin():
            return await upsert_remote_actor(session, fields, doc)

    async def by_key_id(self, key_id: str, *, refresh: bool = False) -> Actor:
        """The actor owning a key id (`https://host/users/a#main-key` or a separate key document)."""
        if not refresh:
            async with self.runtime.sessions() as session:
                actor = await session.scalar(select(Actor).where(Actor.public_key_id == key_id))
            if actor is not None:
                return actor
        doc_url = urldefrag(key_id)[0]
        if self.runtime.uris.is_local(doc_url):
            async with self.runtime.sessions() as session:
                actor = await session.scalar(select(Actor).where(Actor.public_key_id == key_id))
            if actor is None:
                raise ActorError(f"unknown local key {key_id}")
            return actor
        doc = await self.fetch_document(doc_url)
        if type_of(doc) not in ACTOR_TYPES:
            # A standalone key document: follow its owner, on the same host only.
            owner = doc.get("owner")
            if not isinstance(owner, str) or host_of(owner) != host_of(key_id):
                raise ActorError("key document has no owner on its host")
            actor = await self.get(owner, refresh=True)
        else:
            fields = actor_fields_from_document(doc, self.runtime.uris, expected_host=host_of(doc_url))
            async with self.runtime.sessions() as session, session.begin():
                actor = await upsert_remote_actor(session, fields, doc)
        if actor.public_key_id != key_id:
            raise ActorError(f"key {key_id} does not belong to {actor.uri}")
        return actor

    def _stale(self, actor: Actor) -> bool:
        limit = timedelta(seconds=self.runtime.settings.remote_actor_max_age_seconds)
        return actor.fetched_at is None or utcnow() - actor.fetched_at > limit
