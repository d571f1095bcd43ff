"""Forgotten password: a reset link by mail, then a new password (Mastodon's `/auth/password/new` and
`/auth/password/edit?token=...`).

Asking for a link gives the same answer whether the address has an account or not, and the mail
leaves after the answer, so neither the words nor the timing tell. Asking is throttled per client and
per address. The link works once and for a few hours (actors/account_tokens.py); the new password signs
the person out of every browser and app, and a notice is mailed to the address.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.account_mails import password_changed_mail, reset_mail
from actors.account_tokens import TokenError
from actors.registrations import MAX_PASSWORD, RegistrationError, reset_password, user_by_email, user_for_reset
from fediverse.mail import delivery_task
from fediverse.models import Actor
from fediverse.runtime import Runtime
from fediverse.templating import translations
from fediverse.web.account_messages import say_problems
from fediverse.web.auth import csrf_refused, form_of, language_of, page, signed_in
from fediverse.web.mail_throttle import count_mail, mail_blocked
from fediverse.web.session import load_session, save_session

MAX_EMAIL_CHARS = 320


async def new_password_page(request: Request) -> Response:
    return page(request, "auth/password_new.html", await signed_in(request), sent=False, email="")


async def ask_reset(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    viewer = await signed_in(request)
    fields = await form_of(request)
    web = viewer.session if viewer is not None else load_session(request, runtime.settings)
    if not web.check_csrf(fields.get("csrf_token")):
        return csrf_refused(request, viewer)
    email = fields.get("email", "").strip()[:MAX_EMAIL_CHARS]
    if not email:
        return page(request, "auth/password_new.html", viewer, status_code=422, sent=False, email="", error="email")
    if mail_blocked(request, email):
        return page(request, "auth/password_new.html", viewer, status_code=429, sent=False, email=email,
                    error="throttled")
    count_mail(request, email)
    mails = []
    async with runtime.sessions() as session:
        user = await user_by_email(session, email)
        actor = await session.get(Actor, user.actor_id) if user is not None else None
        if user is not None and actor is not None:
            mails.append(reset_mail(runtime.settings, user, actor))
    response = page(request, "auth/password_new.html", viewer, sent=True, email=email)
    response.background = delivery_task(runtime.settings, mails) if mails else None
    return response


def _link_refused(request: Request, error: TokenError) -> Response:
    """A link that is not (or no longer) good: say so, and offer a new one."""
    return page(request, "auth/password_edit.html", None, status_code=410 if error.reason == "expired" else 400,
                token="", link_error=error.reason, problems={})


async def edit_password_page(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    token = request.query_params.get("token", "")
    try:
        async with runtime.sessions() as session:
            await user_for_reset(session, runtime.settings, token)
    except TokenError as exc:
        return _link_refused(request, exc)
    return page(request, "auth/password_edit.html", None, token=token, link_error=None, problems={},
                max_password=MAX_PASSWORD)


async def change_password(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    fields = await form_of(request)
    web = load_session(request, runtime.settings)
    if not web.check_csrf(fields.get("csrf_token")):
        return csrf_refused(request, None)
    token = fields.get("token", "")
    try:
        async with runtime.transaction() as session:
            user = await reset_password(session, runtime.settings, token, fields.get("password", ""),
                                        fields.get("password_confirmation", ""))
            actor = await session.get(Actor, user.actor_id)
            mail = password_changed_mail(runtime.settings, user, actor) if actor is not None else None
    except TokenError as exc:
        return _link_refused(request, exc)
    except RegistrationError as exc:
        gettext = translations(language_of(request, None)).gettext
        return page(request, "auth/password_edit.html", None, status_code=422, token=token, link_error=None,
                    problems=say_problems(gettext, exc.problems), max_password=MAX_PASSWORD)
    web.log_out()  # this browser's session row is gone with the others: a clean anonymous session
    response = RedirectResponse("/auth/sign_in?done=password", status_code=303,
                                background=delivery_task(runtime.settings, [mail] if mail else []))
    save_session(response, web, runtime.settings)
    return response


routes: list[BaseRoute] = [
    Route("/auth/password/new", new_password_page, methods=["GET"]),
    Route("/auth/password/new", ask_reset, methods=["POST"]),
    Route("/auth/password/edit", edit_password_page, methods=["GET"]),
    Route("/auth/password/edit", change_password, methods=["POST"]),
]
