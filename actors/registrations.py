"""Joining the instance, whichever edge takes the request (the website's sign-up form, and the Mastodon
API's `POST /api/v1/accounts` when it is served): the registration mode, the checks of the form, the
mailed confirmation of the address, the moderators' approval, and the password reset by mail.

The rules are Mastodon's: `open` lets anyone in once their address is confirmed; `approval` also waits
for a moderator (a reason to join is asked for), unless the person came with a valid invitation link;
`invite` needs such a link; `closed` takes no one. Admins are notified (`admin.sign_up`) when a new
account has proved its address. Problems are returned as codes per form field, so every edge says them
in its own words and language; nothing here sends mail (the edges do, after the commit).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from actors.account_tokens import CONFIRM_EMAIL, RESET_PASSWORD, TokenError, check_token
from actors.accounts import RESERVED_USERNAMES, checked_commune, create_account, find_local_actor, hash_password
from actors.browser_sessions import end_all_browser_sessions
from actors.invites import InviteError, find_live_invite, invites_enabled, use_invite
from actors.notify import notify
from actors.territory import count_communes
from fediverse.config import Settings
from fediverse.db import utcnow
from fediverse.models import Actor, Invite, OAuthToken, User
from fediverse.uris import USERNAME_RE, Uris

MAX_USERNAME = 30  # Mastodon's limit for new accounts
MAX_DISPLAY_NAME = 100
MAX_EMAIL = 320
MIN_PASSWORD, MAX_PASSWORD = 8, 128
MAX_REASON = 500
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(?:\.[^@\s.]+)+$")
# The commonest passwords (French and English lists) and keyboard runs: refused whatever their length.
COMMON_PASSWORDS = frozenset({
    "password", "password1", "password123", "motdepasse", "motdepasse1", "azertyuiop", "azerty123", "qwertyuiop",
    "qwerty123", "12345678", "123456789", "1234567890", "11111111", "00000000", "87654321", "iloveyou",
    "jetaime1", "soleil123", "bonjour1", "bonjour123", "doudou12", "marseille", "football", "chocolat",
    "princesse", "loulou123", "nicolas1", "abcd1234", "aaaaaaaa", "sunshine", "baseball", "trustno1",
    "letmein1", "welcome1", "admin123", "changeme",
})


class RegistrationError(ValueError):
    """What is wrong with a request, as {field: code}; field "form" is about the request as a whole."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(", ".join(f"{name}: {code}" for name, code in problems.items()))
        self.problems = problems


@dataclass
class SignUp:
    """What a person asks for; strings as typed (they are trimmed here)."""

    username: str
    email: str
    password: str
    commune_insee: str = ""
    display_name: str = ""
    terms_accepted: bool = False
    reason: str = ""
    invite_code: str = ""
    locale: str = "fr"
    # Forms ask for the password twice; None where there is no second field (the API).
    password_confirmation: str | None = None


@dataclass
class Registration:
    actor: Actor
    user: User
    awaiting_approval: bool


@dataclass
class Confirmation:
    """An address just proved (or proved before: `newly` is False). `admins` were notified and are
    the people the edge may mail about an account awaiting their approval."""

    user: User
    actor: Actor
    newly: bool
    awaiting_approval: bool
    admins: list[tuple[User, Actor]] = field(default_factory=list)


def password_problem(password: str, *, username: str = "", email: str = "") -> str | None:
    """"short", "long" or "common" (a well-known password, or the username or address itself)."""
    if len(password) < MIN_PASSWORD:
        return "short"
    if len(password) > MAX_PASSWORD:
        return "long"
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(lowered)) <= 2:
        return "common"
    if lowered in {username.lower(), email.lower(), email.lower().partition("@")[0]} - {""}:
        return "common"
    return None


def email_problem(email: str) -> str | None:
    if not email:
        return "required"
    if len(email) > MAX_EMAIL or not EMAIL_RE.match(email):
        return "invalid"
    return None


async def email_taken(session: AsyncSession, email: str) -> bool:
    return await session.scalar(select(User.id).where(func.lower(User.email) == email.lower()).limit(1)) is not None


async def _username_problem(session: AsyncSession, username: str) -> str | None:
    if not username:
        return "required"
    if len(username) > MAX_USERNAME or not USERNAME_RE.match(username):
        return "invalid"
    if username.lower() in RESERVED_USERNAMES:
        return "reserved"
    if await find_local_actor(session, username) is not None:  # deleted accounts' names are never reused
        return "taken"
    return None


async def _commune_problem(session: AsyncSession, insee: str) -> str | None:
    """Once the territory has communes, the home commune is required and must be one of them."""
    if not insee:
        return "required" if await count_communes(session) else None
    try:
        await checked_commune(session, insee)
    except ValueError:
        return "unknown"
    return None


async def _invitation(session: AsyncSession, settings: Settings, code: str) -> Invite | None:
    """The invitation the request comes with, when the mode uses them; refusals as problems."""
    if not invites_enabled(settings):
        return None  # open: nothing to skip; closed: refused before
    if not code:
        if settings.registration == "invite":
            raise RegistrationError({"form": "invite_required"})
        return None
    try:
        return await find_live_invite(session, code)
    except InviteError as exc:
        raise RegistrationError({"form": f"invite_{exc.reason}"}) from exc


async def register(session: AsyncSession, uris: Uris, settings: Settings, request: SignUp) -> Registration:
    """Create the account the request asks for, unconfirmed (and unapproved when a moderator must look
    at it); the caller commits, then mails the confirmation link (account_tokens.make_token)."""
    if settings.registration == "closed":
        raise RegistrationError({"form": "closed"})
    invite = await _invitation(session, settings, request.invite_code.strip())
    username, email = request.username.strip().lstrip("@"), request.email.strip()
    display_name, reason = " ".join(request.display_name.split()), request.reason.strip()
    awaiting_approval = settings.registration == "approval" and invite is None
    problems = {name: code for name, code in [
        ("username", await _username_problem(session, username)),
        ("email", email_problem(email) or ("taken" if await email_taken(session, email) else None)),
        ("password", password_problem(request.password, username=username, email=email)
         or ("mismatch" if request.password_confirmation not in (None, request.password) else None)),
        ("commune", await _commune_problem(session, request.commune_insee.strip())),
        ("display_name", "long" if len(display_name) > MAX_DISPLAY_NAME else None),
        ("reason", ("required" if not reason else "long" if len(reason) > MAX_REASON else None)
         if awaiting_approval else None),
        ("terms", None if request.terms_accepted else "required"),
    ] if code is not None}
    if problems:
        raise RegistrationError(problems)
    actor, user = await create_account(session, uris, username, email=email, password=request.password,
                                       display_name=display_name, commune_insee=request.commune_insee.strip() or None,
                                       email_confirmed=False)
    user.terms_accepted_at = utcnow()
    user.registration_reason = reason or None
    user.approved = not awaiting_approval
    user.locale = request.locale
    if invite is not None:
        try:
            await use_invite(session, invite)
        except InviteError as exc:  # its last use went to someone else a moment ago
            raise RegistrationError({"form": "invite_expired"}) from exc
        user.invite_id = invite.id
    await session.flush()
    return Registration(actor=actor, user=user, awaiting_approval=awaiting_approval)


async def admins(session: AsyncSession) -> list[tuple[User, Actor]]:
    """The instance's admins whose accounts are live: who is notified, and the contacts on /about."""
    rows = await session.execute(
        select(User, Actor).join(Actor, Actor.id == User.actor_id)
        .where(User.is_admin.is_(True), Actor.suspended_at.is_(None), Actor.deleted_at.is_(None))
        .order_by(Actor.username_lower))
    return [(user, actor) for user, actor in rows.all()]


async def _live_actor(session: AsyncSession, user: User) -> Actor:
    actor = await session.get(Actor, user.actor_id)
    if actor is None or actor.suspended_at is not None or actor.deleted_at is not None:
        raise TokenError("invalid")
    return actor


async def confirm_email(session: AsyncSession, settings: Settings, token: object) -> Confirmation:
    """Prove the address a link was mailed to (TokenError when the link is not good); the first time,
    the admins are notified of the new account. The caller commits."""
    user = (await check_token(session, settings, CONFIRM_EMAIL, token)).user
    actor = await _live_actor(session, user)
    if user.email_confirmed_at is not None:
        return Confirmation(user=user, actor=actor, newly=False, awaiting_approval=not user.approved)
    user.email_confirmed_at = utcnow()
    staff = await admins(session)
    for _admin_user, admin_actor in staff:
        await notify(session, admin_actor, "admin.sign_up", actor.id)
    await session.flush()
    return Confirmation(user=user, actor=actor, newly=True, awaiting_approval=not user.approved, admins=staff)


async def approve(session: AsyncSession, user: User) -> None:
    """A moderator lets an account awaiting approval in (the admin pages call this); the caller commits."""
    user.approved = True
    await session.flush()


async def awaiting(session: AsyncSession, user: User) -> str | None:
    """Why a person whose password is right may not sign in yet: "unconfirmed" (their address) or
    "pending" (a moderator's approval); None when nothing they can wait for stands in the way (a
    suspended or deleted account is not waiting for anything)."""
    if user.email_confirmed_at is not None and user.approved:
        return None
    actor = await session.get(Actor, user.actor_id)
    if actor is None or actor.suspended_at is not None or actor.deleted_at is not None:
        return None
    return "unconfirmed" if user.email_confirmed_at is None else "pending"


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    """The live account using this address (any case): who a reset or a new confirmation link goes to."""
    email = email.strip()
    if email_problem(email) is not None:
        return None
    user = await session.scalar(select(User).where(func.lower(User.email) == email.lower()))
    if user is None:
        return None
    actor = await session.get(Actor, user.actor_id)
    if actor is None or actor.suspended_at is not None or actor.deleted_at is not None:
        return None
    return user


async def user_for_reset(session: AsyncSession, settings: Settings, token: object) -> User:
    """The person a password-reset link is for, while it is good (TokenError otherwise)."""
    user = (await check_token(session, settings, RESET_PASSWORD, token)).user
    await _live_actor(session, user)
    return user


async def reset_password(session: AsyncSession, settings: Settings, token: object, password: str,
                         confirmation: str | None = None) -> User:
    """Set a new password through a mailed link: the link dies (its HMAC covers the old hash), every
    browser is signed out and every app token revoked, as Mastodon does; following the link proved the
    address, so an unconfirmed one is confirmed. RegistrationError for a weak password. The caller commits."""
    user = await user_for_reset(session, settings, token)
    actor = await session.get(Actor, user.actor_id)
    problem = password_problem(password, username=actor.username if actor else "", email=user.email) or (
        "mismatch" if confirmation not in (None, password) else None)
    if problem is not None:
        raise RegistrationError({"password": problem})
    user.password_hash = await asyncio.to_thread(hash_password, password)
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()
    await end_all_browser_sessions(session, user)
    await session.execute(update(OAuthToken).where(OAuthToken.user_id == user.id, OAuthToken.revoked_at.is_(None))
                          .values(revoked_at=utcnow()).execution_options(synchronize_session=False))
    await session.flush()
    return user
