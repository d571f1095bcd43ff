"""The resident's neighbourhood on the website: the "voisinage" timeline and its settings page.

Settings belong to the signed-in person (their own account), whichever identity they act as: an
association has no neighbourhood of its own. The settings form is checked here first, so a
resident reads a translated message naming the field (422, nothing saved); the domain
(actors.neighbourhood) checks again when it saves. The live preview of the included communes
works without JavaScript (the "Preview" button posts the form back with `preview=1`) and, with
fediverse/static/neighbourhood.js, by fetching the `_commune_preview.html` fragment as inputs change.
"""

from __future__ import annotations

import json
import logging
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from babel.numbers import format_decimal
from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.neighbourhood import (
    DEFAULT_RADIUS_KM,
    MAX_LISTED_COMMUNES,
    MAX_RADIUS_KM,
    KnownCommune,
    Neighbourhood,
    NeighbourhoodError,
    known_communes,
    load_neighbourhood,
    preview_neighbourhood,
    update_neighbourhood,
)
from actors.status_views import status_views
from actors.territory import haversine_km
from actors.timelines import FilterSet, neighbourhood_timeline
from fediverse.models import Status
from fediverse.places import parse_place
from fediverse.runtime import Runtime
from fediverse.web.auth import PRIVATE_HEADERS, SignedIn, language_of, page, sign_in_redirect, signed_in
from fediverse.web.session import CSRF_FIELD
from outbox.commands import CommandError, Outbox

log = logging.getLogger(__name__)

PAGE_SIZE = 20
SETTINGS_PATH = "/settings/neighbourhood"
MAX_CODE_CHARS = 10  # what a refused code shows of itself
MAX_RADIUS_CHARS = 20


@dataclass(frozen=True)
class FieldError:
    """A refused field: `code` picks the translated message in the template, `value` is shown in it."""

    field: str
    code: str
    value: str = ""


@dataclass
class SettingsForm:
    """The settings as typed, kept as text so the form comes back exactly as it was sent."""

    home: str = ""
    mode: str = "radius"
    radius: str = ""
    communes: list[str] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)

    def error(self, name: str) -> FieldError | None:
        return next((e for e in self.errors if e.field == name), None)


@dataclass(frozen=True)
class CommuneRow:
    """One commune as the pages list it, its distance already written for the page's language."""

    insee: str
    name: str
    postal_codes: str
    domain: str | None
    distance: str | None
    is_home: bool


@dataclass(frozen=True)
class HoodView:
    """What a neighbourhood includes, ready for the summary line and the list."""

    home: str | None
    mode: str
    radius: str | None
    included: list[CommuneRow]

    @property
    def others(self) -> int:
        return len([row for row in self.included if not row.is_home])


@dataclass(frozen=True)
class Window:
    """The page of the timeline (actors.timelines.paging.Window): older than `max_id`."""

    max_id: int | None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = PAGE_SIZE


def _km(value: float, language: str) -> str:
    return format_decimal(value, format="#,##0.#", locale=language)


def _input_number(value: float) -> str:
    """A radius as an <input type=number> value: a dot, no useless decimals."""
    return f"{value:g}"


def _sort_key(name: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", name) if not unicodedata.combining(c)).casefold()


def _row(commune: KnownCommune, distance: float | None, home: str | None, language: str) -> CommuneRow:
    return CommuneRow(commune.insee, commune.name, " ".join(commune.postal_codes), commune.domain,
                      _km(distance, language) if distance is not None else None, commune.insee == home)


def hood_view(hood: Neighbourhood, language: str) -> HoodView:
    home = hood.home.insee if hood.home else None
    return HoodView(hood.home.name if hood.home else None, "communes" if hood.communes is not None else "radius",
                    _km(hood.radius_km, language) if hood.radius_km is not None else None,
                    [_row(item.commune, item.distance_km, home, language) for item in hood.included])


def form_of(hood: Neighbourhood) -> SettingsForm:
    return SettingsForm(home=hood.home.insee if hood.home else "",
                        mode="communes" if hood.communes is not None else "radius",
                        radius=_input_number(hood.radius_km if hood.radius_km is not None else DEFAULT_RADIUS_KM),
                        communes=list(hood.communes or []))


def read_form(values: Mapping[str, str], communes: Sequence[str], known: dict[str, KnownCommune]) \
        -> tuple[SettingsForm, float | None]:
    """The form as sent and its radius, with an error per refused field (checked like the domain does)."""
    form = SettingsForm(home=str(values.get("home", "")).strip().upper(), mode=str(values.get("mode", "radius")),
                        radius=str(values.get("radius_km", "")).strip()[:MAX_RADIUS_CHARS],
                        communes=list(dict.fromkeys(str(code).strip().upper() for code in communes if code)))
    if not form.home:
        form.errors.append(FieldError("home", "home_missing"))
    elif form.home not in known or known[form.home].domain is not None:
        form.errors.append(FieldError("home", "home_unknown", form.home[:MAX_CODE_CHARS]))
    radius: float | None = None
    if form.mode == "radius":
        try:
            radius = float(form.radius.replace(",", "."))
        except ValueError:
            form.errors.append(FieldError("radius_km", "radius_number"))
        else:
            if not math.isfinite(radius):
                form.errors.append(FieldError("radius_km", "radius_number"))
            elif not 0 < radius <= MAX_RADIUS_KM:
                form.errors.append(FieldError("radius_km", "radius_range"))
    elif form.mode == "communes":
        unknown = [code for code in form.communes if code not in known]
        if len(form.communes) > MAX_LISTED_COMMUNES:
            form.errors.append(FieldError("communes", "communes_many"))
        elif unknown:
            form.errors.append(FieldError("communes", "communes_unknown",
                                          ", ".join(code[:MAX_CODE_CHARS] for code in unknown[:5])))
    else:
        form.errors.append(FieldError("mode", "mode"))
        form.mode = "radius"
    return form, radius


def _form_values(data: ImmutableMultiDict[str, object]) -> tuple[dict[str, str], list[str]]:
    """Text fields only: a file sent in place of a field counts as an empty field."""
    values = {key: value for key, value in data.items() if isinstance(value, str)}
    return values, [value for value in data.getlist("communes") if isinstance(value, str)]


def _choices(known: dict[str, KnownCommune], home: str, language: str) -> tuple[list[CommuneRow], list[CommuneRow]]:
    """The home commune choices (ours, by name) and every commune one may choose (ours, then each
    neighbour instance's, by name), with the distance from the home commune."""
    centre = known.get(home)
    rows = [_row(c, _distance(centre, c), home, language) for c in known.values()]
    rows.sort(key=lambda row: (row.domain is not None, row.domain or "", _sort_key(row.name), row.insee))
    return [row for row in rows if row.domain is None], rows


def _distance(centre: KnownCommune | None, commune: KnownCommune) -> float | None:
    if centre is None:
        return None
    return round(haversine_km(centre.latitude, centre.longitude, commune.latitude, commune.longitude), 2)


def _page(request: Request, signed: SignedIn, template: str, status_code: int = 200, **context: object) -> Response:
    return page(request, template, signed, status_code=status_code, signed=signed,
                max_radius=_input_number(MAX_RADIUS_KM), max_communes=MAX_LISTED_COMMUNES, **context)


def _preview(known: dict[str, KnownCommune], form: SettingsForm, radius: float | None) -> Neighbourhood | None:
    """The unsaved settings' neighbourhood, or None (with an error on the form) when the domain refuses them."""
    if form.errors:
        return None
    try:
        return preview_neighbourhood(known, form.home, radius_km=radius if form.mode == "radius" else None,
                                     communes=form.communes if form.mode == "communes" else None)
    except NeighbourhoodError as exc:
        form.errors.append(FieldError("form", "other", str(exc)))
        return None


def _settings_page(request: Request, signed: SignedIn, known: dict[str, KnownCommune], form: SettingsForm,
                   hood: Neighbourhood | None, status_code: int = 200, **flags: object) -> Response:
    language = language_of(request, signed)
    homes, communes = _choices(known, form.home, language)
    groups = [(domain, list(rows)) for domain, rows in groupby(communes, key=lambda row: row.domain)]
    return _page(request, signed, "neighbourhood_settings.html", status_code, form=form, homes=homes,
                 commune_groups=groups, view=hood_view(hood, language) if hood else None, **flags)


async def settings_page(request: Request) -> Response:
    signed = await signed_in(request)
    if signed is None:
        return sign_in_redirect(request)
    async with request.app.state.runtime.sessions() as session:
        known = await known_communes(session)
        hood = await load_neighbourhood(session, signed.person.id)
    return _settings_page(request, signed, known, form_of(hood), hood, saved=request.query_params.get("saved") == "1")


async def save_settings(request: Request) -> Response:
    """Save (303 back to the page, which confirms), or with `preview=1` only show what would be included."""
    signed = await signed_in(request)
    if signed is None:
        return sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    data = await request.form()
    values, listed = _form_values(data)
    async with runtime.sessions() as session:
        known = await known_communes(session)
    form, radius = read_form(values, listed, known)
    if not signed.session.check_csrf(values.get(CSRF_FIELD)):
        form.errors.insert(0, FieldError("form", "csrf"))
        return _settings_page(request, signed, known, form, None, 403)
    hood = _preview(known, form, radius)
    if hood is None:
        return _settings_page(request, signed, known, form, None, 422)
    if values.get("preview") == "1":
        return _settings_page(request, signed, known, form, hood, previewing=True)
    try:
        async with runtime.transaction() as session:
            moved = await update_neighbourhood(
                session, signed.person.id, home_commune=form.home,
                radius_km=radius if form.mode == "radius" else None,
                communes=form.communes if form.mode == "communes" else None)
    except NeighbourhoodError as exc:
        form.errors.append(FieldError("form", "other", str(exc)))
        return _settings_page(request, signed, known, form, None, 422)
    if moved:  # followers' servers learn the account's new `location`
        try:
            await Outbox(runtime).update_profile(signed.person.id)
        except CommandError:
            log.exception("could not federate the new home commune of actor %s", signed.person.id)
    return RedirectResponse(f"{SETTINGS_PATH}?saved=1", status_code=303)


async def preview_fragment(request: Request) -> Response:
    """The included communes of the settings in the query, as the fragment the settings page swaps in."""
    signed = await signed_in(request)
    if signed is None:
        return HTMLResponse("", status_code=401, headers=PRIVATE_HEADERS)
    params = request.query_params
    async with request.app.state.runtime.sessions() as session:
        known = await known_communes(session)
    form, radius = read_form({key: value for key, value in params.items()}, params.getlist("communes"), known)
    hood = _preview(known, form, radius)
    return _page(request, signed, "_commune_preview.html", 200 if hood else 422, form=form,
                 view=hood_view(hood, language_of(request, signed)) if hood else None)


def _max_id(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    if not text.isdigit() or len(text) > 19 or int(text) >= 2**63:
        raise ValueError(text)
    return int(text)


async def voisinage(request: Request) -> Response:
    """The public posts, ads and events located in the person's neighbourhood, newest first."""
    signed = await signed_in(request)
    if signed is None:
        return sign_in_redirect(request)
    try:
        window = Window(_max_id(request.query_params.get("max_id")))
    except ValueError:
        return _page(request, signed, "voisinage.html", 400, bad_page=True, view=None, rows=[], older=None)
    viewer = signed.person.id
    async with request.app.state.runtime.sessions() as session:
        hood = await load_neighbourhood(session, viewer)
        filters = await FilterSet.load(session, viewer, "public")
        statuses = await neighbourhood_timeline(session, viewer, window, filters)
        views = await status_views(session, signed.acting.id, statuses)
    names = {item.commune.insee: item.commune.name for item in hood.included}
    rows = [(view, _place(view.status, names)) for view in views]
    older = statuses[-1].id if len(statuses) == PAGE_SIZE else None
    return _page(request, signed, "voisinage.html", view=hood_view(hood, language_of(request, signed)), rows=rows,
                 older=older, paged=window.max_id is not None)


def _place(status: Status, names: dict[str, str]) -> str | None:
    """Where a post is: its commune's name when we know it, else the place name it carries."""
    if status.commune_insee and status.commune_insee in names:
        return names[status.commune_insee]
    if not status.location_json:
        return None
    try:
        parsed = parse_place(json.loads(status.location_json))
    except ValueError:
        return None
    return (parsed.name or parsed.locality) if parsed is not None else None


routes: list[BaseRoute] = [
    Route("/voisinage", voisinage, methods=["GET"]),
    Route(SETTINGS_PATH, settings_page, methods=["GET"]),
    Route(SETTINGS_PATH, save_settings, methods=["POST"]),
    Route(f"{SETTINGS_PATH}/preview", preview_fragment, methods=["GET"]),
]
