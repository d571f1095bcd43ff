"""API errors as Mastodon returns them: `{"error": "..."}` with the right status."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class ApiError(Exception):
    def __init__(self, status: int, message: str, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers


def not_found(what: str = "Record not found") -> ApiError:
    return ApiError(404, what)


def unprocessable(message: str, field: str | None = None) -> ApiError:
    details = {field: [{"error": "ERR_INVALID", "description": message}]} if field else None
    return ApiError(422, f"Validation failed: {message}", details)


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    body: dict[str, Any] = {"error": exc.message}
    if exc.details:
        body["details"] = exc.details
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)
