"""Mastodon's pagination: max_id / since_id / min_id / limit, and Link headers with next/prev."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select
from starlette.requests import Request

from fediverse.api.params import optional_id, query_int


def _id_param(request: Request, name: str) -> int | None:
    return optional_id(request.query_params, name)


@dataclass(frozen=True)
class Page:
    max_id: int | None
    since_id: int | None
    min_id: int | None
    limit: int

    @classmethod
    def from_request(cls, request: Request, default: int = 20, maximum: int = 40) -> Page:
        limit = query_int(request, "limit", default)
        return cls(_id_param(request, "max_id"), _id_param(request, "since_id"), _id_param(request, "min_id"),
                   max(1, min(limit, maximum)))

    def apply(self, query: Select[Any], column: Any) -> Select[Any]:
        """Newest first, except with min_id (the page right after min_id, read upwards)."""
        if self.max_id is not None:
            query = query.where(column < self.max_id)
        if self.since_id is not None:
            query = query.where(column > self.since_id)
        if self.min_id is not None:
            return query.where(column > self.min_id).order_by(column.asc()).limit(self.limit)
        return query.order_by(column.desc()).limit(self.limit)

    def order(self, rows: Sequence[Any]) -> list[Any]:
        """Rows as the client expects them: always newest first."""
        return list(reversed(rows)) if self.min_id is not None else list(rows)


def link_header(request: Request, ids: Sequence[int]) -> dict[str, str]:
    """`Link: <...max_id=oldest>; rel="next", <...min_id=newest>; rel="prev"` keeping other params."""
    if not ids:
        return {}
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("max_id", "min_id", "since_id")]
    base = request.app.state.runtime.settings.base_url + request.url.path
    next_url = f"{base}?{urlencode([*params, ('max_id', str(min(ids)))])}"
    prev_url = f"{base}?{urlencode([*params, ('min_id', str(max(ids)))])}"
    return {"Link": f'<{next_url}>; rel="next", <{prev_url}>; rel="prev"'}
