"""Posting defaults of a login (visibility, sensitivity, language): private to the user, never federated.

Clients read them as the `source` of the credential account and use them to prefill the
compose form, so they are updated together with the profile but outside the actor's Update.
"""

from __future__ import annotations

import re

from sqlalchemy import update

from fediverse.models import User
from fediverse.runtime import Runtime

DEFAULT_VISIBILITIES = ("public", "unlisted", "private")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}$")


class PreferenceError(ValueError):
    """A default that cannot be stored; the message names the field."""


async def update_posting_defaults(runtime: Runtime, user_id: int, *, privacy: str | None = None,
                                  sensitive: bool | None = None, language: str | None = None) -> None:
    """Change the given defaults only; `language` '' clears it (the client then picks one)."""
    validate_posting_defaults(privacy, language)
    values: dict[str, object] = {}
    if privacy is not None:
        values["default_visibility"] = privacy
    if sensitive is not None:
        values["default_sensitive"] = sensitive
    if language is not None:
        values["default_language"] = language.strip().lower() or None
    if not values:
        return
    async with runtime.transaction() as session:
        await session.execute(update(User).where(User.id == user_id).values(**values))


def validate_posting_defaults(privacy: str | None, language: str | None) -> None:
    """Check the defaults before anything else of the request is changed (all or nothing)."""
    if privacy is not None and privacy not in DEFAULT_VISIBILITIES:
        raise PreferenceError("source[privacy] must be public, unlisted or private")
    if language is not None and language.strip() and not LANGUAGE_RE.match(language.strip().lower()):
        raise PreferenceError("source[language] must be an ISO 639 language code")
