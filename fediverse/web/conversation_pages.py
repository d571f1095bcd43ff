"""Private messages: the acting identity's conversations (`/conversations`, newest first, unread ones
said in words), one conversation with a reply form (`/conversations/ID`, marked as read when opened),
and a new message to `@name` or `@name@server` (`/conversations/new?to=@name`).

A message is a status with direct visibility that mentions its recipients, posted through
`Outbox.post` like from a Mastodon app, so it reaches a remote recipient's server too; the
conversations are actors.timelines' (shared with the API's `/api/v1/conversations`).
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.conversation_views import conversation_of, conversation_state_for
from actors.status_views import status_views
from actors.teams import record_if_team_action
from actors.timelines import Missing, conversations_page, hide_conversation
from fediverse.models import Actor, Status
from fediverse.runtime import Runtime
from fediverse.sanitize import html_to_text
from fediverse.web.auth import SignedIn, page, sign_in_redirect, signed_in
from fediverse.web.compose import handle_of
from fediverse.web.social_common import (
    gettext_for,
    not_found,
    path_id,
    problem,
    runtime_of,
    say,
    signed_form,
    window_of,
)
from outbox.commands import MAX_TEXT_LENGTH, CommandError, Outbox, StatusDraft

PAGE_SIZE = 20
MAX_RECIPIENTS = 10
# @name or @name@server (outbox.compose's mention syntax), the leading @ optional.
HANDLE_RE = re.compile(r"^@?([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)"
                       r"(?:@([A-Za-z0-9.-]+\.[A-Za-z]{2,}(?::\d+)?|localhost(?::\d+)?))?$")


async def conversations_list(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    window = window_of(request, PAGE_SIZE)
    if window is None:
        return problem(request, viewer, gettext_for(request, viewer)("This page link is not valid."),
                       status_code=400, back="/conversations")
    runtime = runtime_of(request)
    async with runtime.transaction() as session:  # reading brings the conversation states up to date
        views = await conversations_page(session, viewer.acting.id, window)
    rows = [{"id": v.state.id, "unread": v.state.unread, "last": v.last_status,
             "names": ", ".join(a.display_name or a.username for a in v.accounts),
             "mine": v.last_status.actor_id == viewer.acting.id,
             "excerpt": " ".join(html_to_text(v.last_status.content or "").split())[:200]} for v in views]
    older = views[-1].last_status.id if len(views) == window.limit else None
    return page(request, "conversations/index.html", viewer, conversations=rows, older=older,
                paged=window.max_id is not None)


async def conversation_page(request: Request, *, text: str = "", error: str | None = None,
                            status_code: int = 200) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    runtime = runtime_of(request)
    state_id = path_id(request, "conversation_id")
    if state_id is None:
        return not_found(request, viewer)
    try:
        async with runtime.transaction() as session:
            conversation = await conversation_of(session, viewer.acting.id, state_id)
            messages = await status_views(session, viewer.acting.id, conversation.messages)
    except Missing:
        return not_found(request, viewer)
    names = ", ".join(actor.display_name or actor.username for actor in conversation.participants)
    return page(request, "conversations/show.html", viewer, status_code=status_code, conversation=conversation,
                names=names, messages=messages, text=text, error=error, max_chars=MAX_TEXT_LENGTH)


async def show_conversation(request: Request) -> Response:
    return await conversation_page(request)


def _with_handles(text: str, people: list[Actor]) -> str:
    """The message, starting with the handles of the recipients it does not mention already (a
    direct message reaches exactly the accounts it mentions)."""
    missing = [handle_of(actor) for actor in people if handle_of(actor).lower() not in text.lower()]
    return (" ".join(missing) + " " + text) if missing else text


async def _send(runtime: Runtime, viewer: SignedIn, text: str, reply_to: int | None) -> Status:
    draft = StatusDraft(text=text, visibility="direct", in_reply_to_id=reply_to,
                        language=viewer.user.default_language or None)
    status = await Outbox(runtime).post(viewer.acting.id, draft)
    await record_if_team_action(runtime, viewer, "status.create", status.uri)
    return status


def _text_problem(request: Request, viewer: SignedIn, text: str) -> str | None:
    gettext = gettext_for(request, viewer)
    if not text.strip():
        return gettext("Write something before sending.")
    if len(text) > MAX_TEXT_LENGTH:
        return gettext("Your message is too long: at most %(max)d characters.") % {"max": MAX_TEXT_LENGTH}
    return None


async def reply(request: Request) -> Response:
    """Answer in the conversation: to the latest message, addressed to everyone in it."""
    answer = await signed_form(request)
    if isinstance(answer, Response):
        return answer
    viewer, fields = answer
    runtime = runtime_of(request)
    state_id = path_id(request, "conversation_id")
    try:
        async with runtime.sessions() as session:
            conversation = await conversation_of(session, viewer.acting.id, state_id or 0, mark_read=False)
    except Missing:
        return not_found(request, viewer)
    text = fields.get("status", "")
    error = _text_problem(request, viewer, text)
    if error is None and (conversation.last is None or not conversation.participants):
        error = gettext_for(request, viewer)("This conversation has no one left to write to.")
    if error is None:
        try:
            await _send(runtime, viewer, _with_handles(text, conversation.participants),
                        conversation.last.id if conversation.last else None)
        except CommandError as exc:
            error = say(request, viewer, exc)
    if error is not None:
        return await conversation_page(request, text=text, error=error, status_code=422)
    return RedirectResponse(f"/conversations/{conversation.state.id}#message-form", status_code=303)


async def hide(request: Request) -> Response:
    """Remove the conversation from the list (a new message brings it back), as on Mastodon."""
    answer = await signed_form(request)
    if isinstance(answer, Response):
        return answer
    viewer, _ = answer
    try:
        async with runtime_of(request).transaction() as session:
            await hide_conversation(session, viewer.acting.id, path_id(request, "conversation_id") or 0)
    except Missing:
        return not_found(request, viewer)
    return RedirectResponse("/conversations", status_code=303)


async def new_message_page(request: Request, *, to: str | None = None, text: str = "", error: str | None = None,
                           status_code: int = 200) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    recipients = to if to is not None else request.query_params.get("to", "")[:500]
    return page(request, "conversations/new.html", viewer, status_code=status_code, to=recipients, text=text,
                error=error, max_chars=MAX_TEXT_LENGTH)


async def _recipients(request: Request, viewer: SignedIn, value: str) -> list[Actor] | str:
    """The accounts named in the "To" field (here or on other servers), or why they cannot be written to."""
    gettext = gettext_for(request, viewer)
    names = [name for name in re.split(r"[\s,;]+", value.strip()) if name]
    if not names:
        return gettext("Name at least one recipient: @name or @name@server.")
    if len(names) > MAX_RECIPIENTS:
        return gettext("At most %(count)s recipients.") % {"count": MAX_RECIPIENTS}
    found: dict[int, Actor] = {}
    outbox = Outbox(runtime_of(request))
    for name in names:
        match = HANDLE_RE.match(name)
        if match is None:
            return gettext("“%(name)s” is not an account name: write @name or @name@server.") % {"name": name}
        handle = "@" + match.group(1) + (f"@{match.group(2)}" if match.group(2) else "")
        _, mentioned, _ = await outbox.compose(handle)
        if not mentioned:
            return gettext("No account was found for %(name)s.") % {"name": handle}
        if mentioned[0].id == viewer.acting.id:
            return gettext("You cannot send a message to yourself.")
        found[mentioned[0].id] = mentioned[0]
    return list(found.values())


async def send_new(request: Request) -> Response:
    answer = await signed_form(request)
    if isinstance(answer, Response):
        return answer
    viewer, fields = answer
    runtime = runtime_of(request)
    to, text = fields.get("to", "")[:500], fields.get("status", "")
    error = _text_problem(request, viewer, text)
    recipients = await _recipients(request, viewer, to) if error is None else []
    if isinstance(recipients, str):
        error = recipients
    if error is None:
        try:
            status = await _send(runtime, viewer, _with_handles(text, list(recipients)), None)
        except CommandError as exc:
            error = say(request, viewer, exc)
        else:
            async with runtime.transaction() as session:
                state = await conversation_state_for(session, viewer.acting.id, status)
            return RedirectResponse(f"/conversations/{state.id}" if state else "/conversations", status_code=303)
    return await new_message_page(request, to=to, text=text, error=error, status_code=422)


routes: list[BaseRoute] = [
    Route("/conversations", conversations_list, methods=["GET"]),
    Route("/conversations", send_new, methods=["POST"]),
    Route("/conversations/new", new_message_page, methods=["GET"]),
    Route("/conversations/{conversation_id:int}", show_conversation, methods=["GET"]),
    Route("/conversations/{conversation_id:int}", reply, methods=["POST"]),
    Route("/conversations/{conversation_id:int}/hide", hide, methods=["POST"]),
]
