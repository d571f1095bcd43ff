"""The language a person reads the website in (`User.locale`): private to them, never federated.

Set from the settings page (and the footer's language switch); the website renders every page of a
signed-in person in it, whatever their browser asks for.
"""

from __future__ import annotations

from sqlalchemy import update

from actors.preferences import LANGUAGE_RE, PreferenceError
from fediverse.models import User
from fediverse.runtime import Runtime


async def set_interface_language(runtime: Runtime, user_id: int, language: str) -> None:
    """Store `language` (an ISO 639 code the caller offers an interface in) as the user's own."""
    if not LANGUAGE_RE.match(language):
        raise PreferenceError("locale must be an ISO 639 language code")
    async with runtime.transaction() as session:
        await session.execute(update(User).where(User.id == user_id).values(locale=language))
