"""Participation on the wire, in Mobilizon's shapes (lib/federation/activity_stream/converter/participant.ex
and actions/{join,accept,leave}.ex), because Mobilizon reads plain JSON keys:

- `Join {id, actor, object: <event id>, participationMessage}` from the participant to the organiser;
- `Accept`/`Reject` from the organiser (or whoever speaks for the event's group) whose `object` is the
  whole Join, as the participant's server sent it;
- `Leave {actor, object: <event id>}` from the participant (Mobilizon never sends `Undo(Join)`).

The event's `participantCount`/`remainingAttendeeCapacity` terms are computed here too, so the code that
writes an event's document at create/edit time and the code that counts participants agree on them.
"""

from __future__ import annotations

import json
from typing import Any

from fediverse.as2 import CONTEXT, id_of, text_of, type_of
from fediverse.models import Event
from fediverse.sanitize import html_to_text
from outbox.serializers import wrap

MOBILIZON_NS = "https://joinmobilizon.org/ns#"
# Our context plus the Mobilizon term a Join carries.
JOIN_CONTEXT: list[Any] = [*CONTEXT[:2], {**CONTEXT[2], "mz": MOBILIZON_NS,
                                          "participationMessage": {"@id": "mz:participationMessage",
                                                                   "@type": "http://schema.org#Text"}}]
MAX_MESSAGE_CHARS = 2000
# An embedded Join larger than this is rebuilt from what we stored rather than echoed back.
MAX_EMBEDDED_JOIN_BYTES = 64_000
# The keys of the event document whose values this module keeps current.
PARTICIPATION_TERMS = ("participantCount", "remainingAttendeeCapacity")


def participation_terms(event: Event) -> dict[str, Any]:
    """`participantCount` and, when the event has a capacity, `remainingAttendeeCapacity` (never below 0)."""
    terms: dict[str, Any] = {"participantCount": event.participant_count}
    if event.capacity is not None:
        terms["remainingAttendeeCapacity"] = max(0, event.capacity - event.participant_count)
    return terms


def merge_participation_terms(extra_json: str | None, event: Event) -> str:
    """An event status's extra_json with the participation terms replaced (every other key kept)."""
    try:
        extra = json.loads(extra_json) if extra_json else {}
    except ValueError:
        extra = {}
    if not isinstance(extra, dict):
        extra = {}
    for key in PARTICIPATION_TERMS:
        extra.pop(key, None)
    extra.update(participation_terms(event))
    return json.dumps(extra)


def join_activity(join_uri: str, actor_uri: str, event_uri: str, message: str | None,
                  recipients: list[str]) -> dict[str, Any]:
    """The Join a local participant sends to a remote event's organiser."""
    doc = wrap("Join", join_uri, actor_uri, event_uri, to=recipients, cc=[])
    if message:
        doc["participationMessage"] = message
    doc["@context"] = JOIN_CONTEXT
    return doc


def rebuilt_join(join_uri: str, actor_uri: str, event_uri: str, message: str | None) -> dict[str, Any]:
    """A Join from what we stored (Mobilizon's converter writes exactly these keys)."""
    doc: dict[str, Any] = {"id": join_uri, "type": "Join", "actor": actor_uri, "object": event_uri}
    if message:
        doc["participationMessage"] = message
    return doc


def embeddable_join(received: dict[str, Any] | None, join_uri: str, actor_uri: str, event_uri: str,
                    message: str | None) -> dict[str, Any]:
    """The Join to put inside our Accept/Reject: the one received when it is this Join (same id, type and
    actor) and of a sane size, else one rebuilt from the stored participation."""
    if isinstance(received, dict) and received.get("id") == join_uri and type_of(received) == "Join" \
            and id_of(received.get("actor")) == actor_uri:
        doc = {k: v for k, v in received.items() if k != "@context"}
        if len(json.dumps(doc)) <= MAX_EMBEDDED_JOIN_BYTES:
            return doc
    return rebuilt_join(join_uri, actor_uri, event_uri, message)


def answer_activity(kind: str, answer_uri: str, organiser_uri: str, join: dict[str, Any], participant_uri: str,
                    *, attributed_to: str | None = None) -> dict[str, Any]:
    """Accept or Reject of a Join, from the organiser, to the participant, with the whole Join inside."""
    doc = wrap(kind, answer_uri, organiser_uri, join, to=[participant_uri], cc=[])
    if attributed_to:
        doc["attributedTo"] = attributed_to
    doc["@context"] = JOIN_CONTEXT
    return doc


def leave_activity(leave_uri: str, actor_uri: str, event_uri: str, recipients: list[str]) -> dict[str, Any]:
    return wrap("Leave", leave_uri, actor_uri, event_uri, to=recipients, cc=[])


def participation_message(value: Any) -> str | None:
    """A participationMessage as plain text (Mobilizon strips tags too), bounded; None when empty."""
    text = text_of(value, MAX_MESSAGE_CHARS * 4)
    cleaned = html_to_text(text).strip() if "<" in text else text.strip()
    return cleaned[:MAX_MESSAGE_CHARS] or None
