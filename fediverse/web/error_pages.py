"""Error pages for browsers, in the site's layout and the visitor's language: an unknown address or a
refused method answers like the site's own pages (header, navigation, a way back), while API and
federation clients keep their JSON errors (fediverse/errors.py)."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from fediverse.errors import http_exception_handler, unexpected_error_handler, wants_html
from fediverse.web.auth import page, signed_in

log = logging.getLogger(__name__)

# Paths whose clients are programs even when they send a browser's Accept header.
MACHINE_PREFIXES = ("/api/", "/oauth/", "/inbox", "/users/", "/.well-known/", "/nodeinfo", "/media/", "/static/")


def _for_a_person(request: Request) -> bool:
    return wants_html(request) and not request.url.path.startswith(MACHINE_PREFIXES)


async def _error_page(request: Request, status_code: int) -> Response:
    viewer = await signed_in(request)
    template = "not_found.html" if status_code == 404 else "error.html"
    return page(request, template, viewer, status_code=status_code, error_status=status_code)


async def http_error_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if not _for_a_person(request):
        return await http_exception_handler(request, exc)
    try:
        response = await _error_page(request, exc.status_code)
    except Exception:  # the error page must never turn a 404 into a 500
        log.exception("error page for %s", request.url.path)
        return await http_exception_handler(request, exc)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def unexpected_error_page(request: Request, exc: Exception) -> Response:
    response = await unexpected_error_handler(request, exc)  # logs the error
    if not _for_a_person(request):
        return response
    try:
        return await _error_page(request, 500)
    except Exception:
        return response
