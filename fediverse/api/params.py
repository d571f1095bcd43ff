"""Request parameters the way Mastodon (Rails) reads them, shared by every API module.

Clients send the same parameters as a query string, a form (`media_ids[]`, `poll[options][]`,
`keywords_attributes[0][keyword]`) or JSON (`"media_ids": [...]`, `"poll": {...}`): all become one
nested dict, the body on top of the query string. The casts follow Rails too: a boolean is true
unless it is one of a few spellings of false, an id is a string of digits that fits a bigint, and
a malformed id in a path is a record that does not exist (404) while one in the parameters is a
validation error (422).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from fediverse.api.errors import ApiError, not_found, unprocessable

FALSE_VALUES = frozenset({"0", "f", "false", "off", "no", "n"})
MAX_ID = 2**63 - 1  # ids are PostgreSQL bigints
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART_RE = re.compile(r"\[([^\[\]]*)\]")


# -- reading ---------------------------------------------------------------------------------------


def _assign(target: dict[str, Any], parts: list[str], value: Any) -> None:
    """Place one Rails-style parameter: `a[]` appends, `a[b]` nests, `a[][b]` starts a new hash when b repeats."""
    head, rest = parts[0], parts[1:]
    if not rest:
        target[head] = value
        return
    if rest[0] == "":
        items = target.get(head)
        if not isinstance(items, list):
            items = target[head] = []
        if len(rest) == 1:
            items.append(value)
            return
        if not items or not isinstance(items[-1], dict) or rest[1] in items[-1]:
            items.append({})
        _assign(items[-1], rest[1:], value)
        return
    child = target.get(head)
    if not isinstance(child, dict):
        child = target[head] = {}
    _assign(child, rest, value)


def unfold(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Rails-style flat keys (`home[last_read_id]`, `account_ids[]`, `keywords_attributes[0][keyword]`) as
    nested dicts and lists, which is how every Mastodon client encodes form and query parameters."""
    result: dict[str, Any] = {}
    for key, value in items:
        match = _KEY_RE.match(key)
        if not match:
            result[key] = value
            continue
        _assign(result, [match.group(1), *_PART_RE.findall(match.group(2))], value)
    return result


def media_type(request: Request) -> str:
    """The request's Content-Type without parameters, lower case."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def is_json(request: Request) -> bool:
    """`application/json`, and its relatives (`text/json`, `application/merge-patch+json`...)."""
    return media_type(request).endswith("json")


async def json_body(request: Request) -> dict[str, Any]:
    """A JSON object body ({} when empty); anything else is a 400."""
    body = await request.body()
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object")
    return data


async def read_params(request: Request, files: dict[str, UploadFile] | None = None) -> dict[str, Any]:
    """Query string merged with the body (JSON, urlencoded or multipart), as Mastodon reads them.

    Uploaded files are left out, or collected into `files` when the caller passes a dict."""
    params = unfold(request.query_params.multi_items())
    if is_json(request):
        params.update(unfold((await json_body(request)).items()))
    elif media_type(request) in FORM_TYPES:
        form = await request.form()
        if files is not None:
            files.update((k, v) for k, v in form.multi_items() if isinstance(v, UploadFile))
        params.update(unfold((k, v) for k, v in form.multi_items() if isinstance(v, str)))
    return params


# -- casting ---------------------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    """A list parameter: `x[]=..`, a JSON list, Rails-style `x[0]=..`, or a single value."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value[k] for k in sorted(value, key=lambda k: int(k) if str(k).isdigit() else 0)]
    return [value]


def strings(params: Mapping[str, Any], name: str) -> list[str]:
    """The non-empty scalar values of a list parameter, as strings."""
    return [str(v) for v in as_list(params.get(name)) if isinstance(v, str | int) and str(v)]


def string(params: Mapping[str, Any], name: str) -> str | None:
    """A parameter that must be a string (None for a list, a hash or nothing)."""
    value = params.get(name)
    return value if isinstance(value, str) else None


def scalar(params: Mapping[str, Any], name: str) -> str | int | float | bool | None:
    """A single-valued parameter of any JSON type; None for a list, a hash or nothing (Rails' `permit`
    drops those where it expects a single value)."""
    value = params.get(name)
    return None if isinstance(value, list | dict) else value


def scalar_text(params: Mapping[str, Any], name: str) -> str | None:
    """A single-valued parameter as the text a form would have sent (JSON true/false as `true`/`false`)."""
    value = scalar(params, name)
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


def hash_param(params: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A nested parameter (`source[privacy]=..` or a JSON object); {} when absent or not a hash."""
    value = params.get(name)
    return value if isinstance(value, dict) else {}


def text_value(value: Any) -> str | None:
    """A scalar as text; a list or a hash where text is expected is a 422."""
    if value is None:
        return None
    if isinstance(value, list | dict):
        raise unprocessable("expected a text value")
    return str(value)


def text_param(params: dict[str, Any], name: str) -> str | None:
    """A parameter as a stripped string (None when missing or blank); arrays are space-joined."""
    value = params.get(name)
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    if value is None or isinstance(value, dict):
        return None
    text = str(value).strip()
    return text or None


def flag(value: Any) -> bool | None:
    """Rails' boolean casting: absent or '' -> None; 0/f/false/off/no/n -> False; anything else True."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "":
        return None
    return text not in FALSE_VALUES


def flag_param(params: Mapping[str, Any], name: str) -> bool | None:
    """`flag` of a single-valued parameter (None for a list or a hash)."""
    return flag(scalar(params, name))


def boolean(value: Any, default: bool = False) -> bool:
    """`flag` as a plain bool: `default` when absent, false when empty."""
    return default if value is None else bool(flag(value))


def truthy(value: Any) -> bool:
    """Whether a switch parameter is on (absent is off)."""
    return boolean(value)


def _is_id(text: str) -> bool:
    # isascii: str.isdigit() also accepts digits such as '²' that int() refuses.
    return text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= MAX_ID


def id_value(value: Any, name: str = "id") -> int:
    """An id in the parameters; anything else is a 422 naming the parameter."""
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not _is_id(text):
        raise unprocessable(f"{name} must be an id", name)
    return int(text)


def id_list(params: Mapping[str, Any], name: str, limit: int) -> list[int]:
    """The ids of a list parameter (`id[]=1&id[]=2`, `id=1`, a JSON list), in order, without repeats, at most
    `limit`; a malformed one is skipped, as Mastodon's `where(id: ...)` simply finds nothing for it."""
    found = [int(text) for text in strings(params, name) if _is_id(text)]
    return list(dict.fromkeys(found))[:limit]


def optional_id(params: Mapping[str, Any], name: str) -> int | None:
    """An id parameter that may be absent or empty."""
    value = params.get(name)
    return None if value in (None, "") else id_value(value, name)


def int_value(value: Any, name: str) -> int:
    """A whole number; anything else is a 422 naming the parameter."""
    try:
        return int(str(value).strip())
    except ValueError:
        raise unprocessable(f"{name} must be a number", name) from None


def int_param(params: Mapping[str, Any], name: str, default: int) -> int:
    """A whole-number parameter: `default` when absent, empty or not a single value; anything else is a 422."""
    value = scalar(params, name)
    return default if value is None or value == "" else int_value(value, name)


def query_int(request: Request, name: str, default: int) -> int:
    """A whole number from the query string, `default` when absent or empty."""
    raw = request.query_params.get(name, "")
    return default if raw == "" else int_value(raw, name)


def path_id(request: Request, name: str = "id") -> int:
    """Ids in paths are strings of digits; anything else is simply not found."""
    text = request.path_params.get(name, "")
    if not isinstance(text, str) or not _is_id(text):
        raise not_found()
    return int(text)
