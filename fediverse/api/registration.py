"""Signing up from an app: `POST /api/v1/accounts`, as Mastodon's apps do it.

The app first gets an app token (`client_credentials` grant, scope `write:accounts`), then sends the
person's username, email, password, `agreement` (the terms) and `locale` (plus `reason` when
registration needs approval, `invite_code` in invite mode, and our `commune`: the INSEE code of the
home commune). The rules are the website's sign-up rules (actors/registrations.py): the same
registration mode, the same checks, the same confirmation mail. The answer is a user token, as on
Mastodon; it works once the address is confirmed (and the account approved, where needed).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from actors.account_mails import confirmation_mail
from actors.registrations import RegistrationError, SignUp, register
from fediverse.api.auth import authenticate
from fediverse.api.errors import ApiError
from fediverse.api.oauth_tokens import issue_tokens
from fediverse.api.params import flag_param, read_params, text_param
from fediverse.mail import delivery_task
from fediverse.models import OAuthApp
from fediverse.runtime import Runtime

# The domain's problem codes, as Mastodon's validation error codes.
ERROR_CODES = {"taken": "ERR_TAKEN", "required": "ERR_BLANK", "long": "ERR_TOO_LONG", "short": "ERR_TOO_SHORT",
               "reserved": "ERR_RESERVED"}
FIELD_NAMES = {"terms": "agreement", "commune": "commune", "form": "base"}


def _error_code(field: str, code: str) -> str:
    return "ERR_ACCEPTED" if field == "terms" else ERROR_CODES.get(code, "ERR_INVALID")


def _validation_error(problems: dict[str, str]) -> ApiError:
    if problems.get("form") == "closed":
        return ApiError(403, "Registrations are closed on this instance")
    details: dict[str, Any] = {
        FIELD_NAMES.get(name, name): [{"error": _error_code(name, code), "description": code}]
        for name, code in problems.items()}
    summary = ", ".join(f"{FIELD_NAMES.get(name, name)} {code}" for name, code in problems.items())
    return ApiError(422, f"Validation failed: {summary}", details)


async def register_account(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    identity = await authenticate(request, "write:accounts", user=False)
    params = await read_params(request)
    sign_up = SignUp(username=text_param(params, "username") or "", email=text_param(params, "email") or "",
                     password=str(params.get("password") or ""), commune_insee=text_param(params, "commune") or "",
                     terms_accepted=bool(flag_param(params, "agreement")), reason=text_param(params, "reason") or "",
                     invite_code=text_param(params, "invite_code") or "",
                     locale=(text_param(params, "locale") or runtime.settings.language)[:16])
    async with runtime.sessions() as session:
        app = await session.get(OAuthApp, identity.app_id) if identity.app_id else None
        if app is None:
            raise ApiError(401, "The access token is invalid")
        try:
            done = await register(session, runtime.uris, runtime.settings, sign_up)
        except RegistrationError as exc:
            await session.rollback()
            raise _validation_error(exc.problems) from exc
        body = await issue_tokens(session, app, ["read", "write", "follow", "push"], user_id=done.user.id,
                                  actor_id=done.actor.id)  # commits the account and its token together
    return JSONResponse(body, background=delivery_task(runtime.settings,
                                                       [confirmation_mail(runtime.settings, done.user, done.actor)]))


routes: list[BaseRoute] = [Route("/api/v1/accounts", register_account, methods=["POST"])]
