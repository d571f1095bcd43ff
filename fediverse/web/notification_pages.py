"""The acting identity's notifications (`/notifications`): newest first, each said in the reader's
language (followed you, asks to follow you with accept and reject buttons, liked, boosted, replied,
mentioned you, sent a private message, asks to take part in your event...), unread ones said in
words, by pages; "mark all as read" (the read marker the Mastodon apps share) and "clear" (after a
confirmation page).

The list is actors.timelines' (`notifications_page`: muted and blocked accounts, muted conversations
and the "notifications" keyword filters left out, as in the apps); answering a follow request goes
through `Outbox.answer_follow_request`, so a remote follower's server gets the Accept or Reject.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.notification_views import mark_all_read, notification_views
from actors.relationships import relationships
from actors.timelines import FilterSet, Missing, clear_notifications, dismiss_notification, notifications_page
from fediverse.web.auth import page, sign_in_redirect, signed_in
from fediverse.web.social_common import (
    back_to,
    gettext_for,
    not_found,
    path_id,
    problem,
    runtime_of,
    say,
    signed_form,
    window_of,
)
from outbox.commands import CommandError, Outbox

PAGE_SIZE = 30


async def notifications(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    window = window_of(request, PAGE_SIZE)
    if window is None:
        return problem(request, viewer, gettext_for(request, viewer)("This page link is not valid."),
                       status_code=400, back="/notifications")
    async with runtime_of(request).sessions() as session:
        filters = await FilterSet.load(session, viewer.acting.id, "notifications")
        rows = await notifications_page(session, viewer.acting.id, window, filters=filters)
        views = await notification_views(session, viewer.acting.id, rows)
        followers = [v.account.id for v in views if v.kind == "follow"]
        known = {r.target_id: r for r in await relationships(session, viewer.acting.id, followers)}
    older = rows[-1].id if len(rows) == window.limit else None
    return page(request, "notifications.html", viewer, notifications=views, relationships=known, older=older,
                paged=window.max_id is not None, done=request.query_params.get("done"))


async def mark_read(request: Request) -> Response:
    answer = await signed_form(request)
    if isinstance(answer, Response):
        return answer
    viewer, fields = answer
    async with runtime_of(request).transaction() as session:
        await mark_all_read(session, viewer.acting.id)
    return RedirectResponse(back_to(fields, "/notifications"), status_code=303)


async def confirm_clear(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    return page(request, "notifications_clear.html", viewer)


async def clear(request: Request) -> Response:
    answer = await signed_form(request)
    if isinstance(answer, Response):
        return answer
    viewer, _ = answer
    async with runtime_of(request).transaction() as session:
        await clear_notifications(session, viewer.acting.id)
    return RedirectResponse("/notifications?done=cleared", status_code=303)


async def dismiss(request: Request) -> Response:
    answer = await signed_form(request)
    if isinstance(answer, Response):
        return answer
    viewer, fields = answer
    try:
        async with runtime_of(request).transaction() as session:
            await dismiss_notification(session, viewer.acting.id, path_id(request, "notification_id") or 0)
    except Missing:
        return not_found(request, viewer)
    return RedirectResponse(back_to(fields, "/notifications"), status_code=303)


async def _answer_request(request: Request, *, accept: bool) -> Response:
    answer = await signed_form(request)
    if isinstance(answer, Response):
        return answer
    viewer, fields = answer
    follower_id = path_id(request, "actor_id")
    back = back_to(fields, "/notifications")
    try:
        await Outbox(runtime_of(request)).answer_follow_request(viewer.acting.id, follower_id or 0, accept=accept)
    except CommandError as exc:
        return problem(request, viewer, say(request, viewer, exc), status_code=404, back=back)
    return RedirectResponse(back, status_code=303)


async def authorize(request: Request) -> Response:
    return await _answer_request(request, accept=True)


async def reject(request: Request) -> Response:
    return await _answer_request(request, accept=False)


routes: list[BaseRoute] = [
    Route("/notifications", notifications, methods=["GET"]),
    Route("/notifications/read", mark_read, methods=["POST"]),
    Route("/notifications/clear", confirm_clear, methods=["GET"]),
    Route("/notifications/clear", clear, methods=["POST"]),
    Route("/notifications/{notification_id:int}/dismiss", dismiss, methods=["POST"]),
    Route("/notifications/requests/{actor_id:int}/authorize", authorize, methods=["POST"]),
    Route("/notifications/requests/{actor_id:int}/reject", reject, methods=["POST"]),
]
