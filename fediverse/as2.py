"""ActivityStreams vocabulary and the small, defensive readers every inbound path shares.

Remote JSON is untrusted: every reader here tolerates strings, objects, lists and junk, and
never raises on shape alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from fediverse.uris import PUBLIC, PUBLIC_ALIASES

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
AS_MEDIA_TYPE = "application/activity+json"
LD_MEDIA_TYPE = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'

# The context we send on every document: AS2 + security + the extension terms Mastodon,
# Mobilizon and FEP-0837 readers key on (plain JSON readers match on these names).
CONTEXT: list[Any] = [
    AS_CONTEXT,
    SECURITY_CONTEXT,
    {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "sensitive": "as:sensitive",
        "Hashtag": "as:Hashtag",
        "toot": "http://joinmastodon.org/ns#",
        "featured": {"@id": "toot:featured", "@type": "@id"},
        "discoverable": "toot:discoverable",
        "indexable": "toot:indexable",
        "schema": "http://schema.org#",
        "PropertyValue": "schema:PropertyValue",
        "value": "schema:value",
        "conversation": "http://ostatus.org#conversation",
    },
]

ACTOR_TYPES = frozenset({"Person", "Group", "Organization", "Application", "Service"})
# `Proposal`: FEP-0837 ads from marketplace servers (Mitra), stored and shown like a Note.
OBJECT_TYPES = frozenset({"Note", "Article", "Page", "Event", "Question", "Image", "Video", "Audio", "Proposal"})
ATTACHMENT_TYPES = frozenset({"Document", "Image", "Video", "Audio"})


def first(value: Any) -> Any:
    """First element of a list, or the value itself."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def id_of(value: Any) -> str | None:
    """The id of a reference that may be a string, an object with `id`, or a list of them."""
    value = first(value)
    if isinstance(value, str):
        return value if value.startswith(("https://", "http://")) else None
    if isinstance(value, dict):
        inner = value.get("id")
        if isinstance(inner, str) and inner.startswith(("https://", "http://")):
            return inner
    return None


def ids_of(value: Any, limit: int = 1000) -> list[str]:
    result: list[str] = []
    for item in as_list(value)[:limit]:
        ref = item if isinstance(item, str) else (item.get("id") if isinstance(item, dict) else None)
        if isinstance(ref, str):
            result.append(PUBLIC if ref in PUBLIC_ALIASES else ref)
    return result


def type_of(value: Any) -> str:
    """The first type name of an object (`type` may be a list in JSON-LD)."""
    if not isinstance(value, dict):
        return ""
    kind = first(value.get("type"))
    return kind if isinstance(kind, str) else ""


def text_of(value: Any, max_length: int = 100_000) -> str:
    """A string field, or the first value of its *Map variant, bounded."""
    if isinstance(value, str):
        return value[:max_length]
    if isinstance(value, dict):
        for item in value.values():
            if isinstance(item, str):
                return item[:max_length]
    return ""


def parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_public(addresses: Iterable[str]) -> bool:
    return any(a in PUBLIC_ALIASES for a in addresses)
