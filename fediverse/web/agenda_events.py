"""One event's page, and taking part in it.

A local event's page is its status permalink (`/@username/ID`, which fediverse/web/status_pages.py hands
to `event_page`); a federated one (a neighbour's, Mobilizon's, Gancio's) has its page at `/events/<id>`,
the id of `/events/<id>.ics` (which also accepts the status id or the uuid; `/events/<key>` of a local
event redirects to its permalink). The page says everything Mobilizon shows: when (in the visitor's
language, in the event's time zone), where (with a link to OpenStreetMap), who organises it, the
category, the picture, the description (sanitized again before it is shown), places and status in words.

Participation goes through outbox.participation (`ParticipationCommands`), as from the API: a free event
accepts at once while places remain, a restricted one waits for the organiser (who approves or rejects
here), a remote one sends a `Join` to its organiser's server. Every refusal of the domain is shown as a
translated sentence (409 when the event is full, 422 otherwise, 403 for someone who may not decide).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors import calendar
from actors.agenda_views import (
    EventCard,
    ParticipantRow,
    event_cards,
    participants,
    participation_state,
    shown_event,
)
from fediverse.db import utcnow
from fediverse.models import Actor, Event, Status
from fediverse.runtime import Runtime
from fediverse.sanitize import html_to_text, sanitize_html
from fediverse.templating import translations
from fediverse.web.auth import SignedIn, csrf_refused, form_of, language_of, page, signed_in
from outbox import events as event_rules
from outbox.errors import CommandError, NotFound
from outbox.participation import NotOrganiser, ParticipationCommands, is_organiser
from outbox.participation import may_manage as may_decide

MAX_MESSAGE = 2000
MAX_ID = 2**63
# What a successful form did, said once on the page it redirects to (`?done=`).
NOTICES = ("created", "updated", "cancelled", "joined", "requested", "left", "approved", "rejected")


@dataclass
class EventView:
    """Everything the event page shows, for this visitor."""

    card: EventCard
    status: Status
    description_html: str
    over: bool
    state: str | None = None
    organises: bool = False
    may_edit: bool = False
    may_decide: bool = False
    pending: list[ParticipantRow] = field(default_factory=list)
    accepted: list[ParticipantRow] = field(default_factory=list)

    @property
    def join_refusal(self) -> str | None:
        """Why the visitor cannot ask to join now (a code the template says in words), or None."""
        card = self.card
        if card.cancelled:
            return "cancelled"
        if self.over:
            return "over"
        if card.join_mode == "external":
            return "external"
        if card.join_mode not in ("free", "restricted"):
            return "invite"
        if self.organises:
            return "organiser"
        if card.full and self.state is None and card.local:
            return "full"
        return None


def _refusal_messages(gettext: Callable[[str], str]) -> list[tuple[str, str]]:
    """The domain's refusals (English, for the API) as the website says them."""
    return [
        ("is full", gettext("Sorry, this event is full: there is no place left.")),
        ("is cancelled", gettext("This event is cancelled: nobody can join it any more.")),
        ("is over", gettext("This event is over.")),
        ("registration for this event is handled", gettext("Registration for this event is handled on another "
                                                            "site: follow the organiser's link.")),
        ("invitation only", gettext("This event is by invitation only.")),
        ("you organise this event", gettext("You organise this event: you do not need to join it.")),
        ("declined your participation", gettext("The organiser declined your participation in this event.")),
        ("only the organiser", gettext("Only the organiser of this event and their team can do this.")),
        ("no such participant", gettext("This person is not taking part in this event (any more).")),
        ("the organiser's own server decides", gettext("The organiser's own server decides on this event's "
                                                        "participants.")),
    ]


def say(language: str, error: Exception) -> str:
    text = str(error)
    messages = _refusal_messages(translations(language).gettext)
    return next((said for marker, said in messages if marker in text), text)


def status_code_of(error: Exception) -> int:
    if isinstance(error, NotOrganiser):
        return 403
    if isinstance(error, NotFound):
        return 404
    return 409 if "is full" in str(error) else 422


async def event_view(runtime: Runtime, event: Event, status: Status, viewer: SignedIn | None) -> EventView | None:
    """The page's content for this visitor: their participation, and for the organiser (or their team)
    the requests waiting and the participants."""
    async with runtime.sessions() as session:
        cards = await event_cards(session, [event], runtime.settings.domain)
        if not cards:
            return None
        view = EventView(card=cards[0], status=status,
                         description_html=sanitize_html(calendar.description_html(status)),
                         over=(event.ends_at or event.starts_at) < utcnow())
        if viewer is not None:
            acting, user_id = viewer.acting.id, viewer.user.id
            view.state = await participation_state(session, event.id, acting)
            view.organises = is_organiser(event, acting)
            view.may_edit = event.local and await event_rules.may_manage(session, event, acting, user_id)
            view.may_decide = event.local and await may_decide(session, event, acting, user_id)
            if view.may_decide:
                rows = await participants(session, event.id, runtime.settings.domain)
                view.pending = [row for row in rows if row.state == "pending"]
                view.accepted = [row for row in rows if row.state == "accepted"]
    return view


def _og(runtime: Runtime, view: EventView, language: str) -> dict[str, Any]:
    card = view.card
    parts = [card.short_when(language), card.place_line, html_to_text(view.description_html)[:200]]
    return {"title": card.title, "description": " – ".join(part for part in parts if part), "type": "article",
            "image": card.image_full_url, "url": runtime.settings.base_url + card.path}


async def render_event(request: Request, viewer: SignedIn | None, event: Event, status: Status, *,
                       status_code: int = 200, error: str | None = None, message: str = "") -> Response:
    runtime: Runtime = request.app.state.runtime
    view = await event_view(runtime, event, status, viewer)
    if view is None:
        return page(request, "not_found.html", viewer, status_code=404)
    language = language_of(request, viewer)
    done = request.query_params.get("done")
    settings = runtime.settings
    return page(request, "agenda/event.html", viewer, status_code=status_code, view=view, card=view.card,
                error=error, message=message, done=done if done in NOTICES else None,
                ics_url=f"{settings.base_url}{view.card.ics_path}",
                webcal_url=f"webcal://{settings.domain}{view.card.ics_path}",
                og=_og(runtime, view, language),
                alternates=[("application/activity+json", status.uri, None),
                            ("text/calendar", f"{settings.base_url}{view.card.ics_path}",
                             translations(language).gettext("This event (iCalendar)"))])


async def event_page(request: Request, viewer: SignedIn | None, actor: Actor, status: Status,
                     event: Event) -> Response:
    """The permalink of a local event (called by fediverse/web/status_pages.py)."""
    return await render_event(request, viewer, event, status)


async def _find(runtime: Runtime, key: str) -> tuple[Event, Status] | None:
    """An event by id, status id or uuid (the keys of `/events/<key>.ics`), if its page may be shown."""
    async with runtime.sessions() as session:
        item = await calendar.event_item(session, key)
        return await shown_event(session, item.event.id) if item is not None else None


async def remote_event_page(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    viewer = await signed_in(request)
    found = await _find(runtime, request.path_params["key"])
    if found is None:
        return page(request, "not_found.html", viewer, status_code=404)
    event, status = found
    if event.local:
        view = await event_view(runtime, event, status, None)
        if view is not None and view.card.path != request.url.path:
            return RedirectResponse(view.card.path, status_code=301)
    return await render_event(request, viewer, event, status)


async def _posted_event(request: Request) -> tuple[SignedIn | None, dict[str, str], tuple[Event, Status] | None,
                                                   Response | None]:
    """The signed-in visitor, the form and the event of a POST on an event; or the answer to send
    instead (sign in first, a forged form, no such event)."""
    runtime: Runtime = request.app.state.runtime
    viewer = await signed_in(request)
    event_id = request.path_params["event_id"]
    found = await _find(runtime, str(event_id)) if event_id < MAX_ID else None
    if viewer is None:  # back to the event's page once signed in (a POST cannot be replayed)
        target = f"/events/{found[0].id}" if found is not None else "/agenda"
        return None, {}, None, RedirectResponse(f"/auth/sign_in?next={quote(target, safe='')}", status_code=303)
    fields = await form_of(request)
    if not viewer.session.check_csrf(fields.get("csrf_token")):
        return viewer, fields, None, csrf_refused(request, viewer)
    if found is None:
        return viewer, fields, None, page(request, "not_found.html", viewer, status_code=404)
    return viewer, fields, found, None


async def _back(runtime: Runtime, event: Event, status: Status, done: str) -> Response:
    async with runtime.sessions() as session:
        cards = await event_cards(session, [event], runtime.settings.domain)
    path = cards[0].path if cards else f"/events/{event.id}"
    return RedirectResponse(f"{path}?done={done}", status_code=303)


async def participation(request: Request) -> Response:
    """Join (`action=join`, with an optional message for the organiser) or leave (`action=leave`)."""
    viewer, fields, found, answer = await _posted_event(request)
    if answer is not None:
        return answer
    assert viewer is not None and found is not None
    runtime: Runtime = request.app.state.runtime
    event, status = found
    language = language_of(request, viewer)
    gettext = translations(language).gettext
    action = fields.get("action")
    message = fields.get("message", "").strip()
    if action not in ("join", "leave"):
        return await render_event(request, viewer, event, status, status_code=422,
                                  error=gettext("Choose whether you join or leave the event."))
    if len(message) > MAX_MESSAGE:
        return await render_event(request, viewer, event, status, status_code=422, message=message,
                                  error=gettext("Your message is too long: at most %(max)d characters.")
                                  % {"max": MAX_MESSAGE})
    commands = ParticipationCommands(runtime)
    try:
        if action == "join":
            row = await commands.join(viewer.acting.id, event.id, message=message or None)
            done = "joined" if row.state == "accepted" else "requested"
        else:
            await commands.leave(viewer.acting.id, event.id)
            done = "left"
    except CommandError as exc:
        return await render_event(request, viewer, event, status, status_code=status_code_of(exc),
                                  error=say(language, exc), message=message)
    return await _back(runtime, event, status, done)


async def decide(request: Request) -> Response:
    """The organiser (or their team) approves or rejects someone's participation."""
    viewer, fields, found, answer = await _posted_event(request)
    if answer is not None:
        return answer
    assert viewer is not None and found is not None
    runtime: Runtime = request.app.state.runtime
    event, status = found
    decision = request.path_params["decision"]
    participant = request.path_params["actor_id"]
    if decision not in ("approve", "reject") or participant >= MAX_ID:
        return page(request, "not_found.html", viewer, status_code=404)
    try:
        await ParticipationCommands(runtime).decide(viewer.acting.id, event.id, participant,
                                                    accept=decision == "approve", user_id=viewer.user.id)
    except CommandError as exc:
        return await render_event(request, viewer, event, status, status_code=status_code_of(exc),
                                  error=say(language_of(request, viewer), exc))
    return await _back(runtime, event, status, "approved" if decision == "approve" else "rejected")


routes: list[BaseRoute] = [
    Route("/events/{event_id:int}/participation", participation, methods=["POST"]),
    Route("/events/{event_id:int}/participants/{actor_id:int}/{decision}", decide, methods=["POST"]),
    Route("/events/{key}", remote_event_page, methods=["GET"]),
]
