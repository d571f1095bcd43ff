"""Inbox POSTs: cap, parse, check origin, verify the signature, store durably, answer 202.

Processing happens later in the inbox worker, so this path stays short: no handler runs here.
"""

from __future__ import annotations

import json
import logging
import time

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from actors.remote import ActorResolver
from actors.signed_requests import request_target, signature_params, verify_signed_request
from fediverse.as2 import id_of, type_of
from fediverse.http import json_too_deep
from fediverse.ids import new_id
from fediverse.models import Actor
from fediverse.runtime import Runtime
from fediverse.signatures import SignatureError
from fediverse.uris import host_of
from inbox.dispatch import SUPPORTED_TYPES
from inbox.ingest import IngestUnavailable, IngestWriter

log = logging.getLogger(__name__)
ACCEPTED_CONTENT_TYPES = ("application/activity+json", "application/ld+json", "application/json")


class InboxRejection(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _parse(body: bytes, content_type: str) -> dict:
    media = content_type.split(";")[0].strip().lower()
    if media not in ACCEPTED_CONTENT_TYPES:
        raise InboxRejection(415, f"unsupported content type {media or 'none'}; send application/activity+json")
    try:
        activity = json.loads(body)
    except (ValueError, RecursionError):
        raise InboxRejection(400, "body is not valid JSON") from None
    if not isinstance(activity, dict):
        raise InboxRejection(400, "activity must be a JSON object")
    if json_too_deep(activity):
        raise InboxRejection(400, "activity is nested too deeply")
    return activity


async def receive(request: Request, inbox_actor_id: int | None) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    ingest: IngestWriter = request.app.state.ingest
    body = await request.body()
    try:
        activity = _parse(body, request.headers.get("content-type", ""))
        activity_type = type_of(activity)
        if not activity_type:
            raise InboxRejection(400, "activity has no type")
        if activity_type not in SUPPORTED_TYPES:
            raise InboxRejection(400, f"unsupported activity type {activity_type[:64]!r}")
        activity_uri = activity.get("id")
        actor_uri = id_of(activity.get("actor"))
        if not isinstance(activity_uri, str) or not activity_uri.startswith(("https://", "http://")):
            raise InboxRejection(400, "activity has no id")
        if len(activity_uri) > 2048 or not actor_uri or len(actor_uri) > 2048:
            raise InboxRejection(400, "activity has no usable actor")
        actor_host = host_of(actor_uri)
        if host_of(activity_uri) != actor_host:
            raise InboxRejection(400, "activity id is not on the actor's host")
        if runtime.uris.is_local(actor_uri):
            raise InboxRejection(403, "activities from our own actors are not accepted here")
        if not runtime.settings.insecure_http and not actor_uri.startswith("https://"):
            raise InboxRejection(400, "actor id must be https")
        params = signature_params(request.headers)
        cached_key = runtime.key_cache.get(params.key_id)
        known_sender = cached_key is not None and cached_key.actor_uri == actor_uri
        if activity_type == "Delete" and id_of(activity.get("object")) == actor_uri and not known_sender:
            # An account deleting itself: if we never knew it there is nothing to do, and its key
            # is usually gone (410), so fetching it would only start a storm of retries.
            async with runtime.sessions() as session:
                known = await session.scalar(select(Actor.id).where(Actor.uri == actor_uri))
            if known is None:
                return JSONResponse({"status": "accepted"}, status_code=202)
        target = request_target(request.scope)
        signer = await verify_signed_request(runtime, ActorResolver(runtime), request.method, target,
                                             request.headers, body, params)
        if signer.actor_uri != actor_uri:
            raise InboxRejection(401, f"signed by {signer.actor_uri}, not by the activity's actor")
    except SignatureError as exc:
        return _problem(401, f"signature rejected: {exc}")
    except InboxRejection as exc:
        return _problem(exc.status, str(exc))
    row = {"id": new_id(), "activity_uri": activity_uri, "actor_uri": actor_uri, "activity_type": activity_type,
           "body": body.decode("utf-8", "replace"), "inbox_actor_id": inbox_actor_id}
    try:
        await ingest.submit(row, actor_host)
    except IngestUnavailable:
        return JSONResponse({"error": "temporarily unavailable, retry later"}, status_code=503,
                            headers={"Retry-After": "30"})
    return JSONResponse({"status": "accepted"}, status_code=202)


async def shared_inbox(request: Request) -> JSONResponse:
    return await receive(request, None)


INBOX_ID_TTL_SECONDS = 60.0
INBOX_ID_CACHE_LIMIT = 10_000


async def _inbox_actor_id(request: Request, username: str) -> int | None:
    """Local actor id behind a personal inbox; found ids are cached briefly (one DB read per
    POST costs more than verifying the signature)."""
    runtime: Runtime = request.app.state.runtime
    cache = runtime.inbox_ids
    key = username.lower()
    hit = cache.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[1] < INBOX_ID_TTL_SECONDS:
        return hit[0]
    async with runtime.sessions() as session:
        actor_id = await session.scalar(select(Actor.id).where(
            Actor.domain_key == "", Actor.username_lower == key, Actor.deleted_at.is_(None)))
    if actor_id is not None:
        if len(cache) >= INBOX_ID_CACHE_LIMIT:
            cache.clear()
        cache[key] = (actor_id, now)
    return actor_id


async def personal_inbox(request: Request) -> JSONResponse:
    actor_id = await _inbox_actor_id(request, request.path_params["username"])
    if actor_id is None:
        return _problem(404, "no such inbox")
    return await receive(request, actor_id)


async def inbox_get(request: Request) -> JSONResponse:
    return _problem(405, "inboxes are write-only here; GET the outbox")


routes = [
    Route("/inbox", shared_inbox, methods=["POST"]),
    Route("/users/{username}/inbox", personal_inbox, methods=["POST"]),
    Route("/inbox", inbox_get, methods=["GET"]),
    Route("/users/{username}/inbox", inbox_get, methods=["GET"]),
]
