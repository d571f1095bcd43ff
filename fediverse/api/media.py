"""Mastodon client API: media uploads.

POST /api/v1/media and /api/v2/media upload (processing is synchronous, so both answer 200 with
the final `url`); GET, PUT and DELETE /api/v1/media/:id act on the caller's uploads that are not
posted yet, as Mastodon does (a posted attachment is edited through the status edit, which also
federates the change). All the work is in fediverse.media; this module only maps HTTP to it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from fediverse.api.auth import authenticate
from fediverse.api.errors import ApiError, not_found, unprocessable
from fediverse.api.params import is_json, json_body, path_id, string
from fediverse.api.serializers.statuses import media_to_api
from fediverse.media import (
    MAX_UPLOAD_BYTES,
    MediaError,
    MediaInUse,
    MediaNotFound,
    create_attachment,
    delete_attachment,
    find_unattached,
    update_attachment,
)
from fediverse.runtime import Runtime

SCOPE = "write:media"


async def _file_bytes(value: Any, limit: int = MAX_UPLOAD_BYTES) -> bytes | None:
    """The content of a multipart file field (one byte over the limit, so the size check can say so)."""
    if isinstance(value, UploadFile):
        return await value.read(limit + 1)
    return None


async def _caller(request: Request) -> tuple[int, Runtime]:
    """The uploading account (media are always someone's own) and the runtime."""
    identity = await authenticate(request, SCOPE)
    return identity.actor_id, request.app.state.runtime


async def _form(request: Request) -> FormData:
    return await request.form(max_files=2, max_fields=20)


@contextmanager
def _media_errors() -> Iterator[None]:
    """The media domain's refusals as Mastodon's errors: not the caller's or no such upload is a 404,
    an unusable upload or one a status still uses is a 422."""
    try:
        yield
    except MediaNotFound as exc:
        raise not_found() from exc
    except MediaInUse as exc:
        raise ApiError(422, "Media attachment is currently used by a status") from exc
    except MediaError as exc:
        raise unprocessable(str(exc), exc.field) from exc


async def upload(request: Request) -> JSONResponse:
    """POST /api/v1/media and /api/v2/media: fields `file`, optional `thumbnail`, `description`, `focus`."""
    actor_id, runtime = await _caller(request)
    form = await _form(request)
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise unprocessable("File can't be blank", "file")
        data = await _file_bytes(file) or b""
        with _media_errors():
            row = await create_attachment(
                runtime, actor_id, data, filename=file.filename, declared_type=file.content_type,
                thumbnail=await _file_bytes(form.get("thumbnail")), description=string(form, "description"),
                focus=string(form, "focus"))
    finally:
        await form.close()
    return JSONResponse(media_to_api(row, runtime.settings))


async def show(request: Request) -> JSONResponse:
    """GET /api/v1/media/:id: the caller's unposted upload (always processed: 200, never 206)."""
    actor_id, runtime = await _caller(request)
    with _media_errors():
        row = await find_unattached(runtime, actor_id, path_id(request))
    return JSONResponse(media_to_api(row, runtime.settings))


async def update(request: Request) -> JSONResponse:
    """PUT /api/v1/media/:id: `description`, `focus` and/or `thumbnail`, form or JSON encoded."""
    actor_id, runtime = await _caller(request)
    media_id = path_id(request)
    form: FormData | None = None
    if is_json(request):
        params: Mapping[str, Any] = await json_body(request)
    else:
        params = form = await _form(request)
    try:
        with _media_errors():
            row = await update_attachment(
                runtime, actor_id, media_id, description=string(params, "description"),
                description_given="description" in params, focus=string(params, "focus"),
                thumbnail=await _file_bytes(params.get("thumbnail")))
    finally:
        if form is not None:
            await form.close()
    return JSONResponse(media_to_api(row, runtime.settings))


async def destroy(request: Request) -> JSONResponse:
    """DELETE /api/v1/media/:id (Mastodon 4.4): only while the upload is not used by a status."""
    actor_id, runtime = await _caller(request)
    with _media_errors():
        await delete_attachment(runtime, actor_id, path_id(request))
    return JSONResponse({})


routes: list[BaseRoute] = [
    Route("/api/v1/media", upload, methods=["POST"]),
    Route("/api/v2/media", upload, methods=["POST"]),
    Route("/api/v1/media/{id}", show, methods=["GET"]),
    Route("/api/v1/media/{id}", update, methods=["PUT"]),
    Route("/api/v1/media/{id}", destroy, methods=["DELETE"]),
]
