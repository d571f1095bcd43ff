"""The footer's language switch: a visitor's choice is a cookie, a signed-in user's is their setting.

Changing the language changes nothing but the pages' language, so the form is accepted without the
session's CSRF token when the visitor has no session yet (a first visit from a shared link); a
signed-in user's setting is only changed with a valid token.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.interface_language import set_interface_language
from fediverse.runtime import Runtime
from fediverse.templating import LANGUAGES
from fediverse.web.auth import LANGUAGE_COOKIE, form_of, local_path, signed_in

ONE_YEAR = 365 * 24 * 3600


async def change_language(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    form = await form_of(request)
    language = form.get("language", "")
    response = RedirectResponse(local_path(form.get("next")), status_code=303)
    if language not in LANGUAGES:
        return response
    viewer = await signed_in(request)
    if viewer is not None and viewer.session.check_csrf(form.get("csrf_token")):
        await set_interface_language(runtime, viewer.user.id, language)
    response.set_cookie(LANGUAGE_COOKIE, language, max_age=ONE_YEAR, path="/", httponly=True, samesite="lax",
                        secure=runtime.settings.scheme == "https")
    return response


routes: list[BaseRoute] = [Route("/language", change_language, methods=["POST"])]
