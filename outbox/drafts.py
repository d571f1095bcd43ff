"""Statuses and polls as a client writes them, validated before any row is touched; a draft also
round-trips through the `params` of a scheduled status."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

from fediverse.db import utcnow
from fediverse.ids import new_id
from fediverse.models import VISIBILITIES, Poll
from outbox.errors import CommandError
from outbox.limits import (
    MAX_MEDIA,
    MAX_POLL_EXPIRATION,
    MAX_POLL_OPTION_CHARS,
    MAX_POLL_OPTIONS,
    MAX_TEXT_LENGTH,
    MIN_POLL_EXPIRATION,
)

# Metropolitan and overseas codes are 5 digits; Corsica uses 2A/2B followed by 3 digits.
INSEE_RE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")


class Keep(Enum):
    """Edit arguments where None means "remove": KEEP means "leave it as it is"."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class PollSpec:
    """A poll as a client asks for it (`poll[options][]`, `poll[expires_in]`, ...)."""

    options: list[str]
    expires_in: int
    multiple: bool = False
    hide_totals: bool = False

    def validate(self) -> None:
        options = [o.strip() for o in self.options]
        if len(options) < 2:
            raise CommandError("a poll needs at least 2 options")
        if len(options) > MAX_POLL_OPTIONS:
            raise CommandError(f"a poll has at most {MAX_POLL_OPTIONS} options")
        if any(not o for o in options):
            raise CommandError("poll options cannot be empty")
        if any(len(o) > MAX_POLL_OPTION_CHARS for o in options):
            raise CommandError(f"poll options have at most {MAX_POLL_OPTION_CHARS} characters")
        if len(set(options)) != len(options):
            raise CommandError("poll options must be different")
        if not MIN_POLL_EXPIRATION <= self.expires_in <= MAX_POLL_EXPIRATION:
            raise CommandError(f"a poll lasts between {MIN_POLL_EXPIRATION} and {MAX_POLL_EXPIRATION} seconds")

    def build(self, status_id: int) -> Poll:
        options = [{"title": o.strip(), "votes": 0} for o in self.options]
        return Poll(id=new_id(), status_id=status_id, options_json=json.dumps(options), multiple=self.multiple,
                    hide_totals=self.hide_totals, expires_at=utcnow() + timedelta(seconds=self.expires_in),
                    votes_count=0, voters_count=0)

    def to_params(self) -> dict[str, Any]:
        return {"options": list(self.options), "expires_in": self.expires_in, "multiple": self.multiple,
                "hide_totals": self.hide_totals}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> PollSpec:
        return cls([str(o) for o in params.get("options") or []], int(params.get("expires_in") or 0),
                   bool(params.get("multiple")), bool(params.get("hide_totals")))


@dataclass
class StatusDraft:
    """A status as a client writes it (POST /api/v1/statuses); `to_params` is the `params` of a
    scheduled status in Mastodon's shape, so the same draft is posted later unchanged."""

    text: str = ""
    spoiler_text: str = ""
    visibility: str = "public"
    sensitive: bool = False
    language: str | None = None
    in_reply_to_id: int | None = None
    media_ids: list[int] = field(default_factory=list)
    poll: PollSpec | None = None
    # Extension: the INSEE code of the territory's commune the status is about (else the author's).
    commune: str | None = None

    def validate(self) -> None:
        if self.visibility not in VISIBILITIES:
            raise CommandError("visibility must be public, unlisted, private or direct")
        if self.commune is not None and not INSEE_RE.match(self.commune):
            raise CommandError("commune must be an INSEE code (5 characters, e.g. 35257)")
        if len(self.text) + len(self.spoiler_text) > MAX_TEXT_LENGTH:
            raise CommandError(f"text is limited to {MAX_TEXT_LENGTH} characters")
        if len(set(self.media_ids)) > MAX_MEDIA:
            raise CommandError(f"a status has at most {MAX_MEDIA} media attachments")
        if self.poll is not None:
            self.poll.validate()
            if self.media_ids:
                raise CommandError("a status cannot have both media attachments and a poll")
        if not self.text.strip() and not self.media_ids and self.poll is None:
            raise CommandError("a status needs text, media or a poll")

    def to_params(self) -> dict[str, Any]:
        return {
            "text": self.text, "spoiler_text": self.spoiler_text or None, "visibility": self.visibility,
            "sensitive": self.sensitive, "language": self.language,
            "in_reply_to_id": str(self.in_reply_to_id) if self.in_reply_to_id else None,
            "media_ids": [str(i) for i in self.media_ids] or None,
            "poll": self.poll.to_params() if self.poll else None,
            **({"commune": self.commune} if self.commune else {}),
            "application_id": None, "scheduled_at": None, "idempotency": None, "with_rate_limit": False,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> StatusDraft:
        reply_to = params.get("in_reply_to_id")
        return cls(text=str(params.get("text") or ""), spoiler_text=str(params.get("spoiler_text") or ""),
                   visibility=str(params.get("visibility") or "public"), sensitive=bool(params.get("sensitive")),
                   language=params.get("language") or None, in_reply_to_id=int(reply_to) if reply_to else None,
                   media_ids=[int(i) for i in params.get("media_ids") or []],
                   poll=PollSpec.from_params(params["poll"]) if params.get("poll") else None,
                   commune=str(params["commune"]) if params.get("commune") else None)

