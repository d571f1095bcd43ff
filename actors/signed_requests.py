"""Verifying signed requests (inbox POSTs and authorized-fetch GETs) against the sender's key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError

from actors.remote import ActorError, ActorResolver
from fediverse.http import FetchError
from fediverse.runtime import CachedKey, Runtime
from fediverse.signatures import SignatureError, SignatureParams, parse_signature_header, verify_request

POST_REQUIRED = ("(request-target)", "host", "date", "digest")
GET_REQUIRED = ("(request-target)", "host", "date")
KEY_CACHE_LIMIT = 10_000


async def _key_for(runtime: Runtime, resolver: ActorResolver, key_id: str, refresh: bool) -> CachedKey:
    if not refresh and (cached := runtime.key_cache.get(key_id)) is not None:
        return cached
    try:
        try:
            actor = await resolver.by_key_id(key_id, refresh=refresh)
        except IntegrityError:
            # Concurrent first requests from an actor we did not know all fetched it and raced to
            # store it; one insert won, so the row is there now: read it instead of failing (500).
            actor = await resolver.by_key_id(key_id)
    except (ActorError, FetchError) as exc:
        raise SignatureError(f"could not get key {key_id}: {exc}") from exc
    if not actor.public_key_pem or actor.suspended_at is not None:
        raise SignatureError(f"no usable key for {key_id}")
    entry = CachedKey(actor.id, actor.uri, actor.public_key_pem)
    if len(runtime.key_cache) >= KEY_CACHE_LIMIT:
        runtime.key_cache.pop(next(iter(runtime.key_cache)))
    runtime.key_cache[key_id] = entry
    return entry


def request_target(scope: Mapping[str, Any]) -> str:
    """The path exactly as sent (raw, undecoded) plus query: what the signer signed."""
    raw = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    return raw.decode("latin-1") + (("?" + query.decode("latin-1")) if query else "")


def signature_params(headers: Mapping[str, str]) -> SignatureParams:
    value = headers.get("signature")
    if not value:
        raise SignatureError("request is not signed (no Signature header)")
    return parse_signature_header(value)


async def verify_signed_request(
    runtime: Runtime,
    resolver: ActorResolver,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes | None,
    params: SignatureParams | None = None,
) -> CachedKey:
    """Return the verified signer, or raise SignatureError with the reason.

    The Host header must be ours (a signature made for another server is not replayable here),
    and a key that fails is refetched once, because remote actors rotate keys.
    """
    params = params or signature_params(headers)
    host = (headers.get("host") or "").lower().rstrip(".")
    if host != runtime.settings.domain:
        raise SignatureError(f"request Host {host!r} is not this server")
    required = POST_REQUIRED if body is not None else GET_REQUIRED
    settings = runtime.settings
    for attempt in (0, 1):
        key = await _key_for(runtime, resolver, params.key_id, refresh=attempt == 1)
        try:
            verify_request(method, target, headers, params, key.public_key_pem, body=body,
                           required_headers=required, max_age=settings.signature_max_age_seconds,
                           max_future=settings.signature_max_future_seconds)
            return key
        except SignatureError as exc:
            # Only a bad signature value can be a rotated key; stale dates or digests are final.
            reason = str(exc)
            if attempt == 1 or not (reason == "Signature does not match" or reason.startswith("Unusable public key")):
                raise
            runtime.key_cache.pop(params.key_id, None)
    raise SignatureError("signature does not verify")  # pragma: no cover
