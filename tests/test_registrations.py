"""Joining the instance, in the domain (actors/registrations.py, actors/invites.py, actors/account_tokens.py):
the registration modes, the problems of a request (and that nothing is created then), the mailed links
(bound to the address, to the password for a reset, limited in time), invitation links and their uses,
and the admins' notification."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from actors import invites, registrations
from actors.account_tokens import CONFIRM_EMAIL, RESET_PASSWORD, TokenError, check_token, make_token
from actors.accounts import check_password, create_account
from actors.browser_sessions import browser_sessions_of, open_browser_session
from actors.logins import active
from actors.registrations import RegistrationError, SignUp
from actors.territory import import_communes, init_territory, read_communes_file
from fediverse.config import Settings
from fediverse.db import utcnow
from fediverse.models import Actor, Invite, Notification, OAuthToken, User
from fediverse.runtime import Runtime
from tests.test_locations import COUESNON

MAEN_ROCH = "35257"


def sign_up(username: str = "marie", **changes: object) -> SignUp:
    values: dict[str, object] = {"username": username, "email": f"{username}@example.fr",
                                 "password": "une chorale au bourg", "commune_insee": MAEN_ROCH,
                                 "terms_accepted": True, "display_name": "Marie Dupont"}
    values.update(changes)
    return SignUp(**values)  # type: ignore[arg-type]


@pytest.fixture
async def territory(runtime: Runtime) -> Runtime:
    async with runtime.transaction() as session:
        await init_territory(session, "Couesnon Marches de Bretagne", "intercommunality")
        await import_communes(session, read_communes_file(COUESNON))
        await create_account(session, runtime.uris, "admin", email="admin@example.fr", password="admin password 1",
                             is_admin=True)
    return runtime


def mode(runtime: Runtime, registration: str) -> Settings:
    return replace(runtime.settings, registration=registration)


async def register(runtime: Runtime, settings: Settings, request: SignUp) -> registrations.Registration:
    async with runtime.transaction() as session:
        return await registrations.register(session, runtime.uris, settings, request)


async def problems_of(runtime: Runtime, settings: Settings, request: SignUp) -> dict[str, str]:
    with pytest.raises(RegistrationError) as refused:
        await register(runtime, settings, request)
    return refused.value.problems


async def users(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_open_sign_up_waits_for_the_mailed_link_then_the_admins_are_notified(territory: Runtime) -> None:
    runtime = territory
    settings = mode(runtime, "open")
    done = await register(runtime, settings, sign_up(locale="en"))
    assert not done.awaiting_approval
    async with runtime.sessions() as session:
        user = await session.get(User, done.user.id)
        assert user is not None and user.approved and user.email_confirmed_at is None
        assert user.terms_accepted_at is not None and user.locale == "en" and user.invite_id is None
        assert not await active(session, user)
        assert await registrations.awaiting(session, user) == "unconfirmed"
        actor = await session.get(Actor, user.actor_id)
        assert actor is not None and actor.commune_insee == MAEN_ROCH and actor.display_name == "Marie Dupont"
        assert actor.location_name == "Maen Roch"
        token = make_token(settings, CONFIRM_EMAIL, user)

    async with runtime.transaction() as session:
        confirmed = await registrations.confirm_email(session, settings, token)
        assert confirmed.newly and not confirmed.awaiting_approval
        assert [actor.username for _user, actor in confirmed.admins] == ["admin"]
    async with runtime.transaction() as session:  # the link again: nothing more happens
        again = await registrations.confirm_email(session, settings, token)
        assert not again.newly and again.admins == []
    async with runtime.sessions() as session:
        user = await session.get(User, done.user.id)
        assert user is not None and await active(session, user)
        notes = (await session.scalars(select(Notification).where(Notification.kind == "admin.sign_up"))).all()
        admin = await session.scalar(select(Actor).where(Actor.username == "admin"))
        assert [(n.recipient_id, n.from_actor_id) for n in notes] == [(admin.id, done.actor.id)]


async def test_every_problem_of_a_request_is_named_and_nothing_is_created(territory: Runtime) -> None:
    runtime = territory
    settings = mode(runtime, "open")
    await register(runtime, settings, sign_up("marie"))
    before = await users(runtime)
    cases: list[tuple[SignUp, dict[str, str]]] = [
        (sign_up("MARIE", email="autre@example.fr"), {"username": "taken"}),
        (sign_up("paul", email="Marie@Example.FR"), {"email": "taken"}),
        (sign_up("admin", email="a@example.fr"), {"username": "reserved"}),
        (sign_up("postmaster", email="b@example.fr"), {"username": "reserved"}),
        (sign_up("jean dupont", email="jean@example.fr"), {"username": "invalid"}),
        (sign_up("j" * 31, email="j@example.fr"), {"username": "invalid"}),
        (sign_up("", email="x@example.fr"), {"username": "required"}),
        (sign_up("paul", email="paul-at-example.fr"), {"email": "invalid"}),
        (sign_up("paul", email=""), {"email": "required"}),
        (sign_up("paul", password="court"), {"password": "short"}),
        (sign_up("paul", password="x" * 129 + "yz"), {"password": "long"}),
        (sign_up("paul", password="azertyuiop"), {"password": "common"}),
        (sign_up("paul", password="aaaaaaaaaaaa"), {"password": "common"}),
        (sign_up("paulus123", password="PAULUS123"), {"password": "common"}),
        (sign_up("paul", password_confirmation="autre chose encore"), {"password": "mismatch"}),
        (sign_up("paul", commune_insee="75056"), {"commune": "unknown"}),
        (sign_up("paul", commune_insee=""), {"commune": "required"}),
        (sign_up("paul", terms_accepted=False), {"terms": "required"}),
        (sign_up("paul", display_name="D" * 101), {"display_name": "long"}),
        (sign_up("", email="x", password="x", commune_insee="", terms_accepted=False),
         {"username": "required", "email": "invalid", "password": "short", "commune": "required", "terms": "required"}),
    ]
    for request, expected in cases:
        assert await problems_of(runtime, settings, request) == expected, request
    assert await users(runtime) == before
    # A reason is only asked for when a moderator must look at the request.
    assert await problems_of(runtime, settings, sign_up("paul", terms_accepted=False, reason="x" * 600)) == {
        "terms": "required"}


async def test_approval_mode_asks_a_reason_and_the_account_waits_for_a_moderator(territory: Runtime) -> None:
    runtime = territory
    settings = mode(runtime, "approval")
    assert await problems_of(runtime, settings, sign_up("paul")) == {"reason": "required"}
    assert await problems_of(runtime, settings, sign_up("paul", reason="x" * 501)) == {"reason": "long"}
    done = await register(runtime, settings, sign_up("paul", reason="J'anime la chorale de Maen Roch."))
    assert done.awaiting_approval
    async with runtime.transaction() as session:
        user = await session.get(User, done.user.id)
        assert user is not None and not user.approved and user.registration_reason.startswith("J'anime")
        confirmed = await registrations.confirm_email(session, settings, make_token(settings, CONFIRM_EMAIL, user))
        assert confirmed.newly and confirmed.awaiting_approval and len(confirmed.admins) == 1
    async with runtime.transaction() as session:
        user = await session.get(User, done.user.id)
        assert user is not None and await registrations.awaiting(session, user) == "pending"
        assert not await active(session, user)
        await registrations.approve(session, user)
    async with runtime.sessions() as session:
        user = await session.get(User, done.user.id)
        assert user is not None and await active(session, user) and await registrations.awaiting(session, user) is None


async def test_invitations_let_people_in_count_their_uses_and_end(territory: Runtime) -> None:
    runtime = territory
    settings = mode(runtime, "invite")
    async with runtime.transaction() as session:
        admin = await session.scalar(select(User).where(User.email == "admin@example.fr"))
        once = await invites.create_invite(session, settings, admin, max_uses=1, expires_in_minutes=None)
        week = await invites.create_invite(session, settings, admin, max_uses=None, expires_in_minutes=7 * 24 * 60)
        old = await invites.create_invite(session, settings, admin, max_uses=5, expires_in_minutes=30)
        old.expires_at = utcnow() - timedelta(minutes=1)
        with pytest.raises(invites.InviteError, match="choice"):
            await invites.create_invite(session, settings, admin, max_uses=3, expires_in_minutes=None)
    assert await problems_of(runtime, settings, sign_up("paul")) == {"form": "invite_required"}
    assert await problems_of(runtime, settings, sign_up("paul", invite_code="nope")) == {"form": "invite_unknown"}
    assert await problems_of(runtime, settings, sign_up("paul", invite_code=old.code)) == {"form": "invite_expired"}

    done = await register(runtime, settings, sign_up("paul", invite_code=once.code))
    assert not done.awaiting_approval and done.user.approved and done.user.invite_id == once.id
    assert await problems_of(runtime, settings, sign_up("lea", invite_code=once.code)) == {"form": "invite_expired"}
    for name in ("lea", "hugo"):
        await register(runtime, settings, sign_up(name, invite_code=week.code))
    async with runtime.transaction() as session:
        assert (await session.get(Invite, once.id)).uses == 1
        assert (await session.get(Invite, week.id)).uses == 2
        await invites.revoke_invite(session, admin, week.id)
    assert await problems_of(runtime, settings, sign_up("zoe", invite_code=week.code)) == {"form": "invite_expired"}

    # Under approval, an invitation skips the review (and the reason); the problems of a bad one are said.
    approval = mode(runtime, "approval")
    async with runtime.transaction() as session:
        link = await invites.create_invite(session, approval, admin, max_uses=None, expires_in_minutes=None)
    invited = await register(runtime, approval, sign_up("zoe", invite_code=link.code))
    assert invited.user.approved and not invited.awaiting_approval
    assert await problems_of(runtime, approval, sign_up("max", invite_code="nope", reason="hi")) == {
        "form": "invite_unknown"}


async def test_the_last_use_of_an_invitation_goes_to_one_person_only(territory: Runtime) -> None:
    runtime = territory
    settings = mode(runtime, "invite")
    async with runtime.transaction() as session:
        admin = await session.scalar(select(User).where(User.email == "admin@example.fr"))
        link = await invites.create_invite(session, settings, admin, max_uses=1, expires_in_minutes=60)
    async with runtime.sessions() as first, runtime.sessions() as second:
        seen_by_first = await invites.find_live_invite(first, link.code)
        seen_by_second = await invites.find_live_invite(second, link.code)
        await invites.use_invite(first, seen_by_first)
        await first.commit()
        with pytest.raises(invites.InviteError, match="expired"):
            await invites.use_invite(second, seen_by_second)


async def test_invitations_belong_to_their_maker_and_follow_the_mode(territory: Runtime) -> None:
    runtime = territory
    async with runtime.transaction() as session:
        admin = await session.scalar(select(User).where(User.email == "admin@example.fr"))
        _actor, other = await create_account(session, runtime.uris, "voisin", email="voisin@example.fr",
                                             password="mot de passe long")
        with pytest.raises(invites.InviteError, match="disabled"):
            await invites.create_invite(session, mode(runtime, "open"), admin, max_uses=1, expires_in_minutes=60)
        link = await invites.create_invite(session, mode(runtime, "invite"), admin, max_uses=1, expires_in_minutes=60)
        with pytest.raises(invites.InviteError, match="unknown"):
            await invites.revoke_invite(session, other, link.id)
        assert [i.id for i in await invites.invites_of(session, admin)] == [link.id]
        assert await invites.invites_of(session, other) == []
    # Closed means closed, invitation or not.
    assert await problems_of(runtime, mode(runtime, "closed"), sign_up("paul", invite_code=link.code)) == {
        "form": "closed"}


async def test_a_confirmation_link_is_bound_to_its_address_and_to_time(territory: Runtime) -> None:
    runtime = territory
    settings = mode(runtime, "open")
    done = await register(runtime, settings, sign_up())
    async with runtime.transaction() as session:
        user = await session.get(User, done.user.id)
        assert user is not None
        token = make_token(settings, CONFIRM_EMAIL, user)
        stale = make_token(settings, CONFIRM_EMAIL, user, now=utcnow() - timedelta(days=2, seconds=1))
        user_id, expires, signature = token.split("-", 2)  # the signature may hold "-" (base64url)
        for bad in ("", "x" * 500, "abc", f"{user_id}-{int(expires) + 3600}-{signature}", f"{user_id}-{expires}-x",
                    make_token(replace(settings, secret_key="another"), CONFIRM_EMAIL, user),
                    make_token(settings, RESET_PASSWORD, user)):
            with pytest.raises(TokenError, match="invalid"):
                await check_token(session, settings, CONFIRM_EMAIL, bad)
        with pytest.raises(TokenError, match="expired"):
            await check_token(session, settings, CONFIRM_EMAIL, stale)
        user.email = "nouvelle@example.fr"  # a link sent to the old address no longer confirms anything
        with pytest.raises(TokenError, match="invalid"):
            await registrations.confirm_email(session, settings, token)


async def test_a_reset_link_works_once_and_ends_every_session_and_app_token(territory: Runtime) -> None:
    runtime = territory
    settings = mode(runtime, "open")
    done = await register(runtime, settings, sign_up())
    async with runtime.transaction() as session:
        user = await session.get(User, done.user.id)
        assert user is not None
        await open_browser_session(session, user, user_agent="Firefox", ip=None)
        await open_browser_session(session, user, user_agent="Chromium", ip=None)
        session.add(OAuthToken(token_hash="h1", user_id=user.id, actor_id=user.actor_id, scopes="read"))
        token = make_token(settings, RESET_PASSWORD, user)
        stale = make_token(settings, RESET_PASSWORD, user, now=utcnow() - timedelta(hours=6, seconds=1))
    async with runtime.transaction() as session:
        with pytest.raises(TokenError, match="expired"):
            await registrations.reset_password(session, settings, stale, "un nouveau mot de passe")
        with pytest.raises(RegistrationError):
            await registrations.reset_password(session, settings, token, "court")
        with pytest.raises(RegistrationError):
            await registrations.reset_password(session, settings, token, "un nouveau mot de passe", "autre chose")
        await registrations.reset_password(session, settings, token, "un nouveau mot de passe",
                                           "un nouveau mot de passe")
    async with runtime.transaction() as session:
        user = await session.get(User, done.user.id)
        assert user is not None and check_password(user.password_hash, "un nouveau mot de passe")
        assert not check_password(user.password_hash, "une chorale au bourg")
        assert user.email_confirmed_at is not None  # the link proved the address
        assert await browser_sessions_of(session, user) == []
        assert (await session.scalar(select(OAuthToken).where(OAuthToken.user_id == user.id))).revoked_at is not None
        with pytest.raises(TokenError, match="invalid"):  # used once: the password hash it was bound to is gone
            await registrations.reset_password(session, settings, token, "encore un autre mot de passe")
