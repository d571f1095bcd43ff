"""Mastodon client API: media uploads.

POST /api/v1/media and /api/v2/media upload (processing is synchronous, so both answer 200 with
the final `url`); GET, PUT and DELETE /api/v1/media/:id act on the caller's uploads that are not
posted yet, as Mastodon does (a posted attachment is edited through the status edit, which also
federates the change). All the work is in fediverse.media; this module only maps HTTP to it.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from fediverse.api.auth import authenticate
from fediverse.api.errors import ApiError, not_found, unprocessable
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


def _media_id(request: Request) -> int:
    raw = request.path_params["id"]
    if not raw.isdigit() or int(raw) >= 2**63:
        raise not_found()
    return int(raw)


async def _file_bytes(value: Any, limit: int = MAX_UPLOAD_BYTES) -> bytes | None:
    """The content of a multipart file field (one byte over the limit, so the size check can say so)."""
    if isinstance(value, UploadFile):
        return await value.read(limit + 1)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


async def _form(request: Request) -> FormData:
    return await request.form(max_files=2, max_fields=20)


def _invalid(exc: MediaError) -> ApiError:
    return unprocessable(str(exc), exc.field)


async def upload(request: Request) -> JSONResponse:
    """POST /api/v1/media and /api/v2/media: fields `file`, optional `thumbnail`, `description`, `focus`."""
    identity = await authenticate(request, SCOPE)
    runtime: Runtime = request.app.state.runtime
    form = await _form(request)
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise unprocessable("File can't be blank", "file")
        data = await _file_bytes(file) or b""
        row = await create_attachment(
            runtime, identity.actor_id, data, filename=file.filename, declared_type=file.content_type,
            thumbnail=await _file_bytes(form.get("thumbnail")), description=_text(form.get("description")),
            focus=_text(form.get("focus")))
    except MediaError as exc:
        raise _invalid(exc) from exc
    finally:
        await form.close()
    return JSONResponse(media_to_api(row, runtime.settings))


async def show(request: Request) -> JSONResponse:
    """GET /api/v1/media/:id: the caller's unposted upload (always processed: 200, never 206)."""
    identity = await authenticate(request, SCOPE)
    runtime: Runtime = request.app.state.runtime
    try:
        row = await find_unattached(runtime, identity.actor_id, _media_id(request))
    except MediaNotFound as exc:
        raise not_found() from exc
    return JSONResponse(media_to_api(row, runtime.settings))


async def update(request: Request) -> JSONResponse:
    """PUT /api/v1/media/:id: `description`, `focus` and/or `thumbnail`, form or JSON encoded."""
    identity = await authenticate(request, SCOPE)
    runtime: Runtime = request.app.state.runtime
    media_id = _media_id(request)
    form: FormData | None = None
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            params = await request.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "The request body is not valid JSON") from exc
        if not isinstance(params, dict):
            raise ApiError(400, "The request body must be a JSON object")
    else:
        form = await _form(request)
        params = dict(form)
    try:
        description = params.get("description")
        focus = params.get("focus")
        row = await update_attachment(
            runtime, identity.actor_id, media_id, description=description if isinstance(description, str) else None,
            description_given="description" in params, focus=focus if isinstance(focus, str) else None,
            thumbnail=await _file_bytes(params.get("thumbnail")))
    except MediaNotFound as exc:
        raise not_found() from exc
    except MediaError as exc:
        raise _invalid(exc) from exc
    finally:
        if form is not None:
            await form.close()
    return JSONResponse(media_to_api(row, runtime.settings))


async def destroy(request: Request) -> JSONResponse:
    """DELETE /api/v1/media/:id (Mastodon 4.4): only while the upload is not used by a status."""
    identity = await authenticate(request, SCOPE)
    runtime: Runtime = request.app.state.runtime
    try:
        await delete_attachment(runtime, identity.actor_id, _media_id(request))
    except MediaNotFound as exc:
        raise not_found() from exc
    except MediaInUse as exc:
        raise ApiError(422, "Media attachment is currently used by a status") from exc
    return JSONResponse({})


routes: list[BaseRoute] = [
    Route("/api/v1/media", upload, methods=["POST"]),
    Route("/api/v2/media", upload, methods=["POST"]),
    Route("/api/v1/media/{id}", show, methods=["GET"]),
    Route("/api/v1/media/{id}", update, methods=["PUT"]),
    Route("/api/v1/media/{id}", destroy, methods=["DELETE"]),
]
