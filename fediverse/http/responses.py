"""Reading remote answers safely: statuses that are worth a retry, Retry-After, size caps while
reading, content types, JSON decoding with a nesting limit, and network errors as FetchError."""

from __future__ import annotations

import contextlib
import email.utils
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from fediverse.http.errors import FetchError, RefusedAddress

JSON_CONTENT_TYPES = frozenset(
    {"application/activity+json", "application/ld+json", "application/json", "application/jrd+json"}
)


MAX_JSON_DEPTH = 100


# 408 and 429 are client-side codes that nevertheless mean "try again later".
RETRYABLE_CLIENT_STATUSES = frozenset({408, 429})


_RETRY_AFTER_SECONDS_RE = re.compile(r"[0-9]{1,10}")
_CHUNK_SIZE = 64 * 1024


def is_permanent_status(status: int) -> bool:
    """4xx means "do not retry", except 408 (timeout) and 429 (rate limited)."""
    return 400 <= status < 500 and status not in RETRYABLE_CLIENT_STATUSES


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), None if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    if _RETRY_AFTER_SECONDS_RE.fullmatch(text):
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def json_too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Iteratively check nesting so that later recursive code (JSON-LD, our handlers) is safe."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type header value, lowercased."""
    return (content_type or "").split(";", 1)[0].strip().lower()


@contextlib.contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Turn aiohttp/socket/timeout errors into FetchError with the right `permanent` flag."""
    try:
        yield
    except RefusedAddress as exc:
        raise FetchError(url, exc.message, permanent=True) from exc
    except FetchError:
        raise
    except aiohttp.InvalidURL as exc:
        raise FetchError(url, f"invalid URL: {exc}", permanent=True) from exc
    except TimeoutError as exc:
        raise FetchError(url, "timed out") from exc
    except (aiohttp.ClientError, OSError) as exc:
        refused = find_refusal(exc)
        if refused is not None:
            raise FetchError(url, refused.message, permanent=True) from exc
        raise FetchError(url, f"connection failed: {type(exc).__name__}: {exc}") from exc


def find_refusal(exc: BaseException) -> RefusedAddress | None:
    """Our resolver's refusal, if aiohttp wrapped it in one of its own exceptions."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, RefusedAddress):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def status_error(url: str, response: aiohttp.ClientResponse, detail: str = "") -> FetchError:
    """FetchError for a non-success HTTP status, carrying permanence and Retry-After."""
    status = response.status
    reason = "gone" if status == 410 else (response.reason or "error")
    message = f"HTTP {status} {reason}"
    if detail:
        message += f": {detail[:200]!r}"
    return FetchError(
        url,
        message,
        status=status,
        permanent=is_permanent_status(status),
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


async def read_capped(response: aiohttp.ClientResponse, url: str, max_bytes: int) -> bytes:
    """Read the body, aborting (and closing the connection) as soon as it exceeds `max_bytes`."""
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        response.close()
        raise FetchError(
            url,
            f"response body of {declared} bytes exceeds the {max_bytes} byte limit",
            status=response.status,
            permanent=True,
        )
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.content.iter_chunked(_CHUNK_SIZE):
        total += len(chunk)
        if total > max_bytes:
            response.close()
            raise FetchError(
                url,
                f"response body exceeds the {max_bytes} byte limit",
                status=response.status,
                permanent=True,
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def drain(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Read at most `limit` bytes of a response we barely care about; drop the rest with the socket."""
    data = await response.content.read(limit)
    if not response.content.at_eof():
        response.close()
    return data


def check_content_type(response: aiohttp.ClientResponse, url: str, allowed: frozenset[str] | None) -> str:
    """The Content-Type header, refused (before reading the body) if not one of `allowed`."""
    content_type = response.headers.get("Content-Type", "")
    if allowed is not None and media_type(content_type) not in allowed:
        expected = ", ".join(sorted(allowed))
        raise FetchError(
            url,
            f"unexpected content type {content_type[:100]!r} (expected one of {expected})",
            status=response.status,
            permanent=True,
        )
    return content_type


def merge_headers(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """`base` overridden by `extra`, case-insensitively (signed headers must win)."""
    lowered = {key.lower() for key in extra}
    merged = {key: value for key, value in base.items() if key.lower() not in lowered}
    merged.update(extra)
    return merged


def decode_json(url: str, body: bytes) -> dict[str, Any]:
    """Parse a JSON object, refusing other top-level types and absurd nesting."""
    try:
        document = json.loads(body)
    except RecursionError as exc:
        raise FetchError(url, f"JSON nested deeper than {MAX_JSON_DEPTH} levels", permanent=True) from exc
    except ValueError as exc:
        raise FetchError(url, f"invalid JSON: {exc}", permanent=True) from exc
    if not isinstance(document, dict):
        raise FetchError(url, f"expected a JSON object, got {type(document).__name__}", permanent=True)
    if json_too_deep(document):
        raise FetchError(url, f"JSON nested deeper than {MAX_JSON_DEPTH} levels", permanent=True)
    return document


def charset_of(content_type: str) -> str | None:
    """The charset parameter of a Content-Type value, if present."""
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None
