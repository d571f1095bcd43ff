"""`/settings/export`: a person downloads the archive of their own account (outbox/export.py: their
actor, posts with their files, likes, bookmarks, follows, followers, blocks, mutes and lists), laid out
like Mastodon's so it can be read back or imported elsewhere.

The archive is written to a temporary file (never held in memory whole), sent as an attachment, and
the file is removed once sent.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from fediverse.runtime import Runtime
from fediverse.web.auth import PRIVATE_HEADERS, page, sign_in_redirect, signed_in
from outbox.export import AccountArchive

PATH = "/settings/export"


async def export_page(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    return page(request, "settings/export.html", viewer, account=viewer.person)


async def archive(request: Request) -> Response:
    """The zip file itself (a GET: downloading changes nothing, and only reaches the signed-in person)."""
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    handle, path = tempfile.mkstemp(prefix="archive-", suffix=".zip")
    try:
        with os.fdopen(handle, "wb") as target:
            await AccountArchive(runtime, viewer.person.id).write(target)
    except BaseException:
        os.unlink(path)
        raise
    name = f"archive-{viewer.person.username}-{date.today():%Y%m%d}.zip"
    return FileResponse(path, media_type="application/zip", filename=name, headers=PRIVATE_HEADERS,
                        background=BackgroundTask(os.unlink, path))


routes: list[BaseRoute] = [
    Route(PATH, export_page, methods=["GET"]),
    Route(f"{PATH}/archive", archive, methods=["GET"]),
]
