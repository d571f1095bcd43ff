"""Signing up on the website, by the instance's registration mode, and confirming the address by the
mailed link; the routes of the other account pages (password reset, invitation links, /about) are
composed here too.

Paths follow Mastodon's: `/auth/sign_up` (with `?invite=<code>`, where `/invite/<code>` leads),
`/auth/confirmation?token=...` (the mailed link), `/auth/confirmation/new` (ask for a new link). The
rules are the domain's (actors/registrations.py); this module reads the form, shows the problems next
to their fields in the reader's language, and mails the link once the account is committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.account_mails import confirmation_mail, pending_account_mails
from actors.account_tokens import TokenError
from actors.invites import InviteError, find_live_invite, invites_enabled
from actors.registrations import (
    MAX_REASON,
    MAX_USERNAME,
    RegistrationError,
    SignUp,
    confirm_email,
    email_taken,
    register,
    user_by_email,
)
from actors.territory import get_territory, list_communes
from fediverse.mail import delivery_task
from fediverse.models import Actor, Commune, Invite
from fediverse.runtime import Runtime
from fediverse.templating import translations
from fediverse.web import about_pages, invite_pages, password_pages
from fediverse.web.account_messages import say_problems, status_of
from fediverse.web.auth import csrf_refused, form_of, language_of, page, signed_in
from fediverse.web.mail_throttle import count_mail, mail_blocked
from fediverse.web.session import load_session, save_session

SIGNED_UP_KEY = "signed_up"  # the session remembers the address the link went to, for the next page


@dataclass
class SignUpForm:
    """What the sign-up page shows: the mode, the invitation, the values typed so far, the problems."""

    mode: str
    values: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    communes: list[Commune] = field(default_factory=list)
    invite: Invite | None = None
    invite_code: str = ""
    territory_name: str = ""

    @property
    def open_to_this_visitor(self) -> bool:
        """Whether the form itself is shown (closed: never; invite: with a live invitation only)."""
        if self.mode == "closed":
            return False
        return self.mode != "invite" or self.invite is not None

    @property
    def asks_reason(self) -> bool:
        return self.mode == "approval" and self.invite is None


async def _form(runtime: Runtime, code: str, **values: str) -> SignUpForm:
    """The blank (or refilled) form for this mode, with the invitation `code` names, if live."""
    form = SignUpForm(mode=runtime.settings.registration, values=values, invite_code=code[:64])
    async with runtime.sessions() as session:
        form.communes = await list_communes(session)
        territory = await get_territory(session)
        form.territory_name = territory.name if territory is not None else ""
        if code and invites_enabled(runtime.settings):
            try:
                form.invite = await find_live_invite(session, code)
            except InviteError as exc:
                form.problems["form"] = f"invite_{exc.reason}"
                if form.mode == "approval":  # the form stays open: without the link, a moderator reviews
                    form.invite_code = ""
    return form


def _show(request: Request, form: SignUpForm) -> Response:
    """The page; its status says what is wrong (422 for the fields, 403/404/410/429 for the request)."""
    gettext = translations(language_of(request, None)).gettext
    return page(request, "auth/sign_up.html", None, status_code=status_of(form.problems) if form.problems else 200,
                form=form, messages=say_problems(gettext, form.problems), max_username=MAX_USERNAME,
                max_reason=MAX_REASON)


async def sign_up_page(request: Request) -> Response:
    if await signed_in(request) is not None:
        return RedirectResponse("/", status_code=303)
    runtime: Runtime = request.app.state.runtime
    # Without an invitation on an invitation-only site (or on a closed one) the page says so, with a 200;
    # a bad invitation link is a 404 (unknown) or a 410 (expired, used up).
    return _show(request, await _form(runtime, request.query_params.get("invite", "").strip()))


async def invite_link(request: Request) -> Response:
    """`/invite/<code>`, the link people share: the sign-up form with the invitation."""
    code = request.path_params["code"]
    return RedirectResponse(f"/auth/sign_up?invite={quote(code[:64], safe='')}", status_code=303)


async def _race_problems(runtime: Runtime, username: str, email: str) -> dict[str, str]:
    """Another sign-up took the name or the address between our checks and the insert."""
    async with runtime.sessions() as session:
        if await email_taken(session, email.strip()):
            return {"email": "taken"}
        return {"username": "taken"}


async def sign_up(request: Request) -> Response:
    if await signed_in(request) is not None:
        return RedirectResponse("/", status_code=303)
    runtime: Runtime = request.app.state.runtime
    fields = await form_of(request)
    web = load_session(request, runtime.settings)
    if not web.check_csrf(fields.get("csrf_token")):
        return csrf_refused(request, None)
    kept = {name: fields.get(name, "")[:1000] for name in ("display_name", "username", "email", "commune", "reason")}
    form = await _form(runtime, fields.get("invite", "").strip(), **kept)
    if form.problems:  # a bad invitation: refused before anything else
        return _show(request, form)
    if mail_blocked(request, kept["email"].strip()):
        form.problems["form"] = "throttled"
        return _show(request, form)
    signup = SignUp(username=kept["username"], email=kept["email"], password=fields.get("password", ""),
                    password_confirmation=fields.get("password_confirmation", ""), commune_insee=kept["commune"],
                    display_name=kept["display_name"], terms_accepted=fields.get("terms") == "1",
                    reason=kept["reason"], invite_code=form.invite_code, locale=language_of(request, None))
    try:
        async with runtime.transaction() as session:
            registration = await register(session, runtime.uris, runtime.settings, signup)
            mail = confirmation_mail(runtime.settings, registration.user, registration.actor)
    except RegistrationError as exc:
        form.problems.update(exc.problems)
    except IntegrityError:
        form.problems.update(await _race_problems(runtime, signup.username, signup.email))
    if form.problems:
        return _show(request, form)
    count_mail(request, signup.email.strip())
    web.data[SIGNED_UP_KEY] = {"email": registration.user.email, "pending": registration.awaiting_approval}
    web.modified = True
    response = RedirectResponse("/auth/sign_up/sent", status_code=303, background=delivery_task(runtime.settings,
                                                                                                   [mail]))
    save_session(response, web, runtime.settings)
    return response


async def sign_up_sent(request: Request) -> Response:
    """After signing up: where the link went, and what comes next."""
    runtime: Runtime = request.app.state.runtime
    web = load_session(request, runtime.settings)
    done = web.data.get(SIGNED_UP_KEY)
    if not isinstance(done, dict):
        return RedirectResponse("/auth/sign_up", status_code=303)
    return page(request, "auth/sign_up_sent.html", None, web=web, email=str(done.get("email", "")),
                pending=bool(done.get("pending")))


async def confirmation(request: Request) -> Response:
    """The mailed link: the address is proved; the admins are told of an account awaiting them."""
    runtime: Runtime = request.app.state.runtime
    try:
        async with runtime.transaction() as session:
            confirmed = await confirm_email(session, runtime.settings, request.query_params.get("token"))
            commune = await session.get(Commune, confirmed.actor.commune_insee) \
                if confirmed.actor.commune_insee else None
            mails = pending_account_mails(runtime.settings, confirmed, commune.name if commune else None)
    except TokenError as exc:
        return page(request, "auth/confirmation.html", None, status_code=410 if exc.reason == "expired" else 400,
                    state=exc.reason)
    response = page(request, "auth/confirmation.html", None, state="confirmed" if confirmed.newly else "already",
                    pending=confirmed.awaiting_approval)
    response.background = delivery_task(runtime.settings, mails) if mails else None
    return response


async def new_confirmation_page(request: Request) -> Response:
    return page(request, "auth/confirmation_new.html", None, sent=False, email="")


async def new_confirmation(request: Request) -> Response:
    """Mail a new link to an address awaiting confirmation; the same answer whatever the address."""
    runtime: Runtime = request.app.state.runtime
    fields = await form_of(request)
    if not load_session(request, runtime.settings).check_csrf(fields.get("csrf_token")):
        return csrf_refused(request, None)
    email = fields.get("email", "").strip()[:320]
    if not email:
        return page(request, "auth/confirmation_new.html", None, status_code=422, sent=False, email="",
                    error="email")
    if mail_blocked(request, email):
        return page(request, "auth/confirmation_new.html", None, status_code=429, sent=False, email=email,
                    error="throttled")
    count_mail(request, email)
    mails = []
    async with runtime.sessions() as session:
        user = await user_by_email(session, email)
        if user is not None and user.email_confirmed_at is None:
            actor = await session.get(Actor, user.actor_id)
            if actor is not None:
                mails.append(confirmation_mail(runtime.settings, user, actor))
    response = page(request, "auth/confirmation_new.html", None, sent=True, email=email)
    response.background = delivery_task(runtime.settings, mails) if mails else None
    return response


def _sign_up_routes() -> list[BaseRoute]:
    return [
        Route("/auth/sign_up", sign_up_page, methods=["GET"]),
        Route("/auth/sign_up", sign_up, methods=["POST"]),
        Route("/auth/sign_up/sent", sign_up_sent, methods=["GET"]),
        Route("/invite/{code}", invite_link, methods=["GET"]),
        Route("/auth/confirmation", confirmation, methods=["GET"]),
        Route("/auth/confirmation/new", new_confirmation_page, methods=["GET"]),
        Route("/auth/confirmation/new", new_confirmation, methods=["POST"]),
    ]


routes: list[BaseRoute] = [*_sign_up_routes(), *password_pages.routes, *invite_pages.routes, *about_pages.routes]
