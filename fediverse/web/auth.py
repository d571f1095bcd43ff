"""Who is signed in on the website, and as whom they act.

The signed session cookie (fediverse/web/session.py) holds the user id and, once they switch
identity, the id of the account they act as (their own, or an association/shop/group whose team
they are an active member of). Membership is checked again on every request: a member removed
from a team loses the identity at their next click, exactly as their app tokens are revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse

from fediverse.api.oauth_logins import active, identities_of
from fediverse.models import Actor, User
from fediverse.runtime import Runtime
from fediverse.web.session import WebSession, load_session

ACTING_KEY = "act"


@dataclass
class SignedIn:
    """The signed-in user, their own account, the account they act as now, and every identity they may take."""

    user: User
    person: Actor
    acting: Actor
    identities: list[Actor]
    session: WebSession


async def signed_in(request: Request) -> SignedIn | None:
    """The signed-in user of this request, or None (no cookie, a tampered one, or an account that may
    no longer log in). An acting identity they lost falls back to their own account."""
    runtime: Runtime = request.app.state.runtime
    web_session = load_session(request, runtime.settings)
    if web_session.user_id is None:
        return None
    async with runtime.sessions() as session:
        user = await session.get(User, web_session.user_id)
        if user is None or not await active(session, user):
            return None
        identities = await identities_of(session, user)
    person = identities[0]
    wanted = web_session.data.get(ACTING_KEY)
    acting = next((actor for actor in identities if actor.id == wanted), person)
    return SignedIn(user=user, person=person, acting=acting, identities=identities, session=web_session)


def sign_in_redirect(request: Request) -> RedirectResponse:
    """Send an anonymous visitor to the sign-in page, and back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/auth/sign_in?next={quote(target, safe='')}", status_code=303)
