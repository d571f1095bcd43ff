"""Publishing, changing, cancelling and deleting an event on the website, as the identity the person acts
as (their own account, or an association whose team they are an active member of).

Everything goes through outbox.events.EventCommands, so an event from this form is stored and federated
exactly as one from the API (a Mobilizon-shaped `Event`). The form is checked here first, field by field,
so that each mistake is said in the visitor's language next to its field (aria-invalid and
aria-describedby) and the form comes back as typed (HTTP 422, nothing published): a missing or impossible
date, an end before the start, a date decades away, coordinates off the globe, HTML in the title. What the
domain still refuses is shown as it says it, above the form.

Dates and times are two inputs each (`type=date`, `type=time`), read as the wall-clock time of the chosen
time zone (Europe/Paris unless another is chosen); an end time without an end date ends the same day.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.agenda_views import event_cards
from actors.events import DEFAULT_TIMEZONE, in_zone, plausible, zone_named
from actors.teams import record_if_team_action
from actors.territory import list_communes
from fediverse.db import utcnow
from fediverse.models import Actor, Attachment, Commune, Event, Status
from fediverse.models.agenda import EVENT_CATEGORIES, EVENT_STATUSES
from fediverse.runtime import Runtime
from fediverse.sanitize import html_to_text
from fediverse.templating import translations
from fediverse.web.auth import SignedIn, csrf_refused, language_of, page, sign_in_redirect, signed_in
from fediverse.web.uploads import PhotoInput, read_photos
from outbox.errors import CommandError
from outbox.event_wire import MAX_CAPACITY, MAX_DESCRIPTION, MAX_PLACE_TEXT, MAX_TITLE, MAX_URL
from outbox.events import EventCommands, event_spec, may_manage, spec_of

# The zones of metropolitan and overseas France first; any IANA name an API client set is kept too.
TIMEZONES = ("Europe/Paris", "America/Guadeloupe", "America/Martinique", "America/Cayenne", "Indian/Reunion",
             "Indian/Mayotte", "America/Miquelon", "Pacific/Noumea", "Pacific/Tahiti", "Pacific/Wallis", "UTC")
FORM_JOIN_MODES = ("free", "restricted", "external")
MAX_ID = 2**63
_HTML = re.compile(r"<\s*[a-zA-Z/!]")
_FRENCH_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_TIME = re.compile(r"^(\d{1,2})(?:[:hH](\d{2})?)?(?::(\d{2}))?$")


@dataclass
class EventForm:
    """The form as typed (text, so it comes back exactly as sent) and what was wrong, by field."""

    title: str = ""
    description: str = ""
    start_date: str = ""
    start_time: str = ""
    end_date: str = ""
    end_time: str = ""
    timezone: str = DEFAULT_TIMEZONE
    place_name: str = ""
    street: str = ""
    commune: str = ""
    latitude: str = ""
    longitude: str = ""
    online_url: str = ""
    category: str = "MEETING"
    capacity: str = ""
    join_mode: str = "free"
    external_url: str = ""
    status: str = "CONFIRMED"
    remove_picture: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    refusal: str | None = None

    def error(self, name: str) -> str | None:
        return self.errors.get(name)


TEXT_FIELDS = tuple(f.name for f in fields(EventForm) if f.name not in ("errors", "refusal"))


def read_form(data: Mapping[str, Any]) -> EventForm:
    """Text fields only (a file sent in place of one counts as empty), trimmed except the description."""
    values = {name: data.get(name) for name in TEXT_FIELDS}
    form = EventForm(**{name: (value if name == "description" else value.strip())
                        for name, value in values.items() if isinstance(value, str)})
    return form


def form_of_event(event: Event, description_html: str) -> EventForm:
    """An event as its edit form shows it: dates and times on the wall clock of its zone."""
    zone = zone_named(event.timezone) or ZoneInfo(DEFAULT_TIMEZONE)
    start = in_zone(event.starts_at, zone)
    end = in_zone(event.ends_at, zone) if event.ends_at is not None else None
    return EventForm(
        title=event.title, description=html_to_text(description_html), start_date=start.date().isoformat(),
        start_time=start.strftime("%H:%M"), end_date=end.date().isoformat() if end else "",
        end_time=end.strftime("%H:%M") if end else "", timezone=zone.key, place_name=event.place_name or "",
        street=event.street or "", commune=event.commune_insee or "",
        latitude=f"{event.latitude:g}" if event.latitude is not None else "",
        longitude=f"{event.longitude:g}" if event.longitude is not None else "", online_url=event.online_url or "",
        category=event.category, capacity=str(event.capacity) if event.capacity else "",
        join_mode=event.join_mode, external_url=event.external_url or "", status=event.event_status)


# -- checking -----------------------------------------------------------------------------------------

def parse_day(text: str) -> date | None:
    """2027-06-14 (what a date input sends) or 14/06/2027 (what people type where it is a text box)."""
    match = _FRENCH_DATE.match(text)
    try:
        if match:
            return date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
        return date.fromisoformat(text) if re.match(r"^\d{4}-\d{2}-\d{2}$", text) else None
    except ValueError:
        return None


def parse_clock(text: str) -> time | None:
    """20:30 (a time input), 20:30:00, 20h30 or 20h."""
    match = _TIME.match(text)
    if not match:
        return None
    hour, minute, second = int(match.group(1)), int(match.group(2) or 0), int(match.group(3) or 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ".").replace(" ", ""))
    except ValueError:
        return None


def _is_url(text: str) -> bool:
    return bool(re.match(r"^https?://[^\s/]+\S*$", text)) and len(text) <= MAX_URL


class FormChecker:
    """Checks an EventForm field by field, writing each refusal in the visitor's language."""

    def __init__(self, form: EventForm, gettext: Callable[[str], str], communes: list[Commune]) -> None:
        self.form, self.gettext, self.codes = form, gettext, {c.insee for c in communes}

    def refuse(self, name: str, message: str) -> None:
        self.form.errors.setdefault(name, message)

    def moment(self, day_field: str, clock_field: str, zone: ZoneInfo, required: bool) -> datetime | None:
        """The date and time of two inputs in `zone`, as UTC; None (with an error) when wrong or absent."""
        _ = self.gettext
        form = self.form
        day_text, clock_text = getattr(form, day_field), getattr(form, clock_field)
        if not day_text and not clock_text:
            if required:
                self.refuse(day_field, _("Give the date the event starts."))
            return None
        day = parse_day(day_text) if day_text else None
        if day_text and day is None:
            self.refuse(day_field, _("This date does not exist: write it as DD/MM/YYYY."))
            return None
        if day is None:
            self.refuse(day_field, _("Give the date the event starts.") if required else _("Give the date too."))
            return None
        clock = parse_clock(clock_text) if clock_text else None
        if clock is None:
            self.refuse(clock_field, _("Give a time such as 20:30.") if clock_text else _("Give the time too."))
            return None
        moment = datetime.combine(day, clock, zone)
        utc = in_zone(moment, ZoneInfo("UTC"))
        if not plausible(utc):
            self.refuse(day_field, _("This date is not plausible: choose a day between the year 2000 and five "
                                     "years from now."))
            return None
        return utc

    def check(self, *, creating: bool) -> None:
        """Every field; `creating`: an event that would already be over is a mistake."""
        _ = self.gettext
        form = self.form
        if not form.title:
            self.refuse("title", _("Give the event a title."))
        elif _HTML.search(form.title):
            self.refuse("title", _("The title is plain text: remove the HTML tags (< and >)."))
        elif len(form.title) > MAX_TITLE:
            self.refuse("title", _("The title is too long: at most %(max)d characters.") % {"max": MAX_TITLE})
        if len(form.description) > MAX_DESCRIPTION:
            self.refuse("description", _("The description is too long: at most %(max)d characters.")
                        % {"max": MAX_DESCRIPTION})
        zone = zone_named(form.timezone)
        if zone is None:
            self.refuse("timezone", _("Choose a time zone from the list."))
            zone = ZoneInfo(DEFAULT_TIMEZONE)
        if form.end_time and not form.end_date:
            form.end_date = form.start_date  # an end time alone ends the same day
        start = self.moment("start_date", "start_time", zone, required=True)
        end = self.moment("end_date", "end_time", zone, required=False)
        if start is not None and end is not None and end < start:
            self.refuse("end_date", _("The event cannot end before it starts."))
        if creating and start is not None and (end or start) < utcnow():
            self.refuse("end_date" if end is not None else "start_date",
                        _("This event would already be over: check the date."))
        self.place()
        self.participation()
        if form.category not in EVENT_CATEGORIES:
            self.refuse("category", _("Choose a category from the list."))
        if form.status not in EVENT_STATUSES:
            self.refuse("status", _("Choose whether the event is confirmed, to be confirmed or cancelled."))

    def place(self) -> None:
        _ = self.gettext
        form = self.form
        for name in ("place_name", "street"):
            if len(getattr(form, name)) > MAX_PLACE_TEXT:
                self.refuse(name, _("At most %(max)d characters.") % {"max": MAX_PLACE_TEXT})
        if form.commune and form.commune not in self.codes:
            self.refuse("commune", _("Choose one of the territory's communes, or none."))
        if bool(form.latitude) != bool(form.longitude):
            missing = "longitude" if form.latitude else "latitude"
            self.refuse(missing, _("Give both the latitude and the longitude, or neither."))
        for name, bound in (("latitude", 90.0), ("longitude", 180.0)):
            text = getattr(form, name)
            if not text:
                continue
            number = _number(text)
            if number is None or not -bound <= number <= bound:
                self.refuse(name, _("Give a number between -%(bound)d and %(bound)d, such as 48.39.")
                            % {"bound": bound})
        if form.online_url and not _is_url(form.online_url):
            self.refuse("online_url", _("Give a full web address starting with https://."))

    def participation(self) -> None:
        _ = self.gettext
        form = self.form
        if form.capacity:
            if not form.capacity.isdigit() or not 0 < int(form.capacity) <= MAX_CAPACITY:
                self.refuse("capacity", _("Give a whole number of places (at least 1), or leave it empty for no "
                                          "limit."))
        if form.join_mode not in FORM_JOIN_MODES:
            self.refuse("join_mode", _("Choose how people take part."))
        if form.external_url and not _is_url(form.external_url):
            self.refuse("external_url", _("Give a full web address starting with https://."))
        elif form.join_mode == "external" and not form.external_url:
            self.refuse("external_url", _("Give the address of the site where people register."))


def raw_spec(form: EventForm, language: str, current_description: str | None) -> dict[str, Any]:
    """The checked form as `outbox.event_wire.event_spec` reads it (the API's fields). The description is
    sent only when it changed, so an edit does not flatten the formatting of one written elsewhere."""
    def moment(day: str, clock: str) -> str:
        if not day:
            return ""
        parsed_day, parsed_clock = parse_day(day), parse_clock(clock)
        assert parsed_day is not None and parsed_clock is not None
        return datetime.combine(parsed_day, parsed_clock).isoformat()

    raw: dict[str, Any] = {
        "title": form.title, "start": moment(form.start_date, form.start_time),
        "end": moment(form.end_date, form.end_time), "timezone": form.timezone, "category": form.category,
        "capacity": form.capacity, "join_mode": form.join_mode,
        "external_url": form.external_url if form.join_mode == "external" else "",
        "online_url": form.online_url, "status": form.status, "language": language,
        "place": {"name": form.place_name, "street": form.street, "commune": form.commune,
                  "latitude": str(_number(form.latitude)) if form.latitude else "",
                  "longitude": str(_number(form.longitude)) if form.longitude else ""},
    }
    if form.commune:  # the commune's name and postal code, not an earlier commune's
        raw["place"].update(locality=None, postal_code=None)
    if current_description is None or form.description.strip() != html_to_text(current_description).strip():
        raw["description"] = form.description
    return raw


# -- pages ----------------------------------------------------------------------------------------------

@dataclass
class Picture:
    """The picture an event has now (edit form)."""

    url: str
    description: str


async def _show_form(request: Request, viewer: SignedIn, form: EventForm, photos: PhotoInput | None, *,
                     event: Event | None = None, picture: Picture | None = None, status_code: int = 200) -> Response:
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        communes = await list_communes(session)
        organiser = await session.get(Actor, event.actor_id) if event is not None else None
    zones = list(TIMEZONES) + ([form.timezone] if form.timezone not in TIMEZONES and zone_named(form.timezone)
                               else [])
    return page(request, "agenda/form.html", viewer, status_code=status_code, form=form, photos=photos,
                event=event, picture=picture, communes=communes, zones=zones, categories=EVENT_CATEGORIES,
                statuses=EVENT_STATUSES, join_modes=FORM_JOIN_MODES,
                organiser_name=(organiser.display_name or organiser.username) if organiser is not None else None)


async def new_event_page(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    return await _show_form(request, viewer, EventForm(commune=viewer.acting.commune_insee or ""), None)


def _text_fields(data: FormData) -> dict[str, str]:
    return {key: value for key, value in data.items() if isinstance(value, str)}


async def _checked(request: Request, viewer: SignedIn, data: FormData, photos_owner: int, *,
                   creating: bool) -> tuple[EventForm, PhotoInput]:
    """The form read and checked, the photos stored (kept across a retry whatever else is wrong)."""
    runtime: Runtime = request.app.state.runtime
    form = read_form(_text_fields(data))
    photos = await read_photos(runtime, photos_owner, data)
    gettext = translations(language_of(request, viewer)).gettext
    async with runtime.sessions() as session:
        communes = await list_communes(session)
    FormChecker(form, gettext, communes).check(creating=creating)
    if len(photos.photos) > 1:
        form.errors["photos"] = gettext("An event has one picture: keep only one.")
    if data.get("acting_id") != str(viewer.acting.id) and creating:
        # Written as another identity (switched in another tab): never publish under a name not on the form.
        form.refusal = gettext("You now act as %(name)s. Check the event, then publish it again.") % {
            "name": viewer.acting.display_name or viewer.acting.username}
    return form, photos


async def create_event(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return RedirectResponse("/auth/sign_in?next=%2Fagenda%2Fnew", status_code=303)
    runtime: Runtime = request.app.state.runtime
    data = await request.form()
    if not viewer.session.check_csrf(_text_fields(data).get("csrf_token")):
        return csrf_refused(request, viewer)
    form, photos = await _checked(request, viewer, data, viewer.acting.id, creating=True)
    if form.errors or form.refusal or not photos.ready:
        return await _show_form(request, viewer, form, photos, status_code=422)
    language = language_of(request, viewer)
    try:
        spec = event_spec(raw_spec(form, viewer.user.default_language or language, None))
        event = await EventCommands(runtime).create_event(viewer.acting.id, spec, media_ids=photos.ids[:1],
                                                          user_id=viewer.user.id)
    except CommandError as exc:
        form.refusal = str(exc)
        return await _show_form(request, viewer, form, photos, status_code=422)
    return await _done(runtime, viewer, event, "event.create", "created")


async def _done(runtime: Runtime, viewer: SignedIn, event: Event, action: str, notice: str) -> Response:
    """Log the action for the team, then show the event (303: a reload does not post again)."""
    async with runtime.sessions() as session:
        status = await session.get(Status, event.status_id)
        cards = await event_cards(session, [event], runtime.settings.domain)
    await record_if_team_action(runtime, viewer, action, status.uri if status is not None else None)
    path = cards[0].path if cards else "/agenda"
    return RedirectResponse(f"{path}?done={notice}", status_code=303)


async def _managed(request: Request) -> tuple[SignedIn | None, Event | None, Status | None, Response | None]:
    """The signed-in visitor and the local event they may change; or the page to answer instead."""
    viewer = await signed_in(request)
    if viewer is None:
        return None, None, None, sign_in_redirect(request) if request.method == "GET" else RedirectResponse(
            "/auth/sign_in", status_code=303)
    runtime: Runtime = request.app.state.runtime
    event_id = request.path_params["event_id"]
    async with runtime.sessions() as session:
        event = await session.get(Event, event_id) if event_id < MAX_ID else None
        status = await session.get(Status, event.status_id) if event is not None else None
        if event is None or status is None or not event.local:
            return viewer, None, None, page(request, "not_found.html", viewer, status_code=404)
        if not await may_manage(session, event, viewer.acting.id, viewer.user.id):
            return viewer, None, None, page(request, "agenda/forbidden.html", viewer, status_code=403)
    return viewer, event, status, None


async def _picture(runtime: Runtime, event: Event) -> Picture | None:
    async with runtime.sessions() as session:
        row = await session.scalar(
            select(Attachment).where(Attachment.status_id == event.status_id, Attachment.kind == "image")
            .order_by(Attachment.position, Attachment.id).limit(1))
    return Picture(row.preview_url or row.url, row.description or "") if row is not None else None


async def edit_event_page(request: Request) -> Response:
    viewer, event, status, answer = await _managed(request)
    if answer is not None:
        return answer
    assert viewer is not None and event is not None and status is not None
    form = form_of_event(event, spec_of(event, status).description_html)
    return await _show_form(request, viewer, form, None, event=event,
                            picture=await _picture(request.app.state.runtime, event))


async def update_event(request: Request) -> Response:
    viewer, event, status, answer = await _managed(request)
    if answer is not None:
        return answer
    assert viewer is not None and event is not None and status is not None
    runtime: Runtime = request.app.state.runtime
    data = await request.form()
    if not viewer.session.check_csrf(_text_fields(data).get("csrf_token")):
        return csrf_refused(request, viewer)
    # New pictures belong to the organiser's account, whose status they join.
    form, photos = await _checked(request, viewer, data, event.actor_id, creating=False)
    picture = await _picture(runtime, event)
    if form.errors or form.refusal or not photos.ready:
        return await _show_form(request, viewer, form, photos, event=event, picture=picture, status_code=422)
    current = spec_of(event, status)
    media_ids = photos.ids[:1] if photos.ids else ([] if form.remove_picture == "1" else None)
    try:
        spec = event_spec(raw_spec(form, current.language, current.description_html), current)
        event = await EventCommands(runtime).update_event(event.id, spec, actor_id=viewer.acting.id,
                                                          user_id=viewer.user.id, media_ids=media_ids)
    except CommandError as exc:
        form.refusal = str(exc)
        return await _show_form(request, viewer, form, photos, event=event, picture=picture, status_code=422)
    return await _done(runtime, viewer, event, "event.update", "cancelled" if spec.event_status == "CANCELLED"
                       and current.event_status != "CANCELLED" else "updated")


async def cancel_event(request: Request) -> Response:
    viewer, event, status, answer = await _managed(request)
    if answer is not None:
        return answer
    assert viewer is not None and event is not None
    data = await request.form()
    if not viewer.session.check_csrf(_text_fields(data).get("csrf_token")):
        return csrf_refused(request, viewer)
    runtime: Runtime = request.app.state.runtime
    try:
        event = await EventCommands(runtime).cancel_event(event.id, actor_id=viewer.acting.id,
                                                          user_id=viewer.user.id)
    except CommandError:
        return page(request, "agenda/forbidden.html", viewer, status_code=403)
    return await _done(runtime, viewer, event, "event.cancel", "cancelled")


async def delete_event_page(request: Request) -> Response:
    viewer, event, status, answer = await _managed(request)
    if answer is not None:
        return answer
    assert viewer is not None and event is not None
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        cards = await event_cards(session, [event], runtime.settings.domain)
    if request.method == "GET":
        return page(request, "agenda/delete.html", viewer, card=cards[0] if cards else None, event=event)
    data = await request.form()
    if not viewer.session.check_csrf(_text_fields(data).get("csrf_token")):
        return csrf_refused(request, viewer)
    uri = status.uri if status is not None else None
    try:
        await EventCommands(runtime).delete_event(event.id, actor_id=viewer.acting.id, user_id=viewer.user.id)
    except CommandError:
        return page(request, "agenda/forbidden.html", viewer, status_code=403)
    await record_if_team_action(runtime, viewer, "event.delete", uri)
    return RedirectResponse("/agenda?done=deleted", status_code=303)


routes: list[BaseRoute] = [
    Route("/agenda/new", new_event_page, methods=["GET"]),
    Route("/agenda/new", create_event, methods=["POST"]),
    Route("/events/{event_id:int}/edit", edit_event_page, methods=["GET"]),
    Route("/events/{event_id:int}/edit", update_event, methods=["POST"]),
    Route("/events/{event_id:int}/cancel", cancel_event, methods=["POST"]),
    Route("/events/{event_id:int}/delete", delete_event_page, methods=["GET", "POST"]),
]
