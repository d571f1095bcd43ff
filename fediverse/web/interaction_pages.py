"""The buttons of a post: like, boost and their undoing, and deleting one's own post (after a
confirmation page). Each is a POST form with the session's CSRF token that works without JavaScript,
acts as the identity the person acts as, goes through the outbox (so the Like, Announce, Undo or
Delete federates as from a Mastodon app), then sends the person back to the post they acted on.

A post the acting identity may not read is answered "not found", whatever the action.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.status_views import StatusView, status_view
from actors.teams import record_if_team_action
from actors.threads import readable_status
from fediverse.models import Status
from fediverse.runtime import Runtime
from fediverse.web.auth import SignedIn, page, sign_in_redirect, signed_in
from fediverse.web.social_common import back_to, not_found, path_id, problem, runtime_of, say, signed_form
from outbox.commands import CommandError, Outbox


def status_path(status: Status) -> str:
    """Where a post is read on this site: its permalink when it is ours, `/statuses/ID` otherwise."""
    if status.local and status.url:
        return urlsplit(status.url).path
    return f"/statuses/{status.id}"


async def acted_on(runtime: Runtime, viewer: SignedIn, status_id: int | None) -> Status | None:
    """The post the acting identity may read (the original, when the id is a boost's), or None."""
    if status_id is None:
        return None
    async with runtime.sessions() as session:
        status = await readable_status(session, viewer.acting.id, status_id)
        if status is not None and status.reblog_of_id is not None:
            status = await readable_status(session, viewer.acting.id, status.reblog_of_id)
    return status


StatusAction = Callable[[Outbox, int, int], Awaitable[object]]


def _status_action(action: str, act: StatusAction) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint that does `act` to a readable post, logs it for a team account, and goes back."""
    async def endpoint(request: Request) -> Response:
        answer = await signed_form(request)
        if isinstance(answer, Response):
            return answer
        viewer, fields = answer
        runtime = runtime_of(request)
        status = await acted_on(runtime, viewer, path_id(request))
        if status is None:
            return not_found(request, viewer)
        back = back_to(fields, status_path(status))
        try:
            await act(Outbox(runtime), viewer.acting.id, status.id)
        except CommandError as exc:
            return problem(request, viewer, say(request, viewer, exc), back=back)
        await record_if_team_action(runtime, viewer, action, status.uri)
        return RedirectResponse(back, status_code=303)

    return endpoint


favourite = _status_action("status.favourite", lambda outbox, actor, status: outbox.favourite(actor, status))
unfavourite = _status_action("status.unfavourite", lambda outbox, actor, status: outbox.unfavourite(actor, status))
reblog = _status_action("status.reblog", lambda outbox, actor, status: outbox.boost(actor, status))
unreblog = _status_action("status.unreblog", lambda outbox, actor, status: outbox.unboost(actor, status))


async def own_status(request: Request, viewer: SignedIn) -> StatusView | None:
    """The acting identity's own post named by the path (not a boost), with what a page shows of it."""
    runtime = runtime_of(request)
    status_id = path_id(request)
    if status_id is None:
        return None
    async with runtime.sessions() as session:
        status = await session.get(Status, status_id)
        if status is None or status.actor_id != viewer.acting.id or status.reblog_of_id is not None:
            return None
        return await status_view(session, viewer.acting.id, status)


async def confirm_delete(request: Request) -> Response:
    """"Delete this post?" with the post itself, a button that deletes and a way back."""
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    view = await own_status(request, viewer)
    if view is None:
        return not_found(request, viewer)
    if view.kind is not None:  # events and ads are deleted from their own pages
        return RedirectResponse(status_path(view.status), status_code=303)
    return page(request, "social/delete.html", viewer, status=view, cancel=status_path(view.status))


async def delete(request: Request) -> Response:
    answer = await signed_form(request)
    if isinstance(answer, Response):
        return answer
    viewer, _ = answer
    view = await own_status(request, viewer)
    if view is None:
        return not_found(request, viewer)
    if view.kind is not None:
        return RedirectResponse(status_path(view.status), status_code=303)
    runtime = runtime_of(request)
    try:
        await Outbox(runtime).delete_status(viewer.acting.id, view.id)
    except CommandError as exc:
        return problem(request, viewer, say(request, viewer, exc), back=status_path(view.status))
    await record_if_team_action(runtime, viewer, "status.delete", view.status.uri)
    return RedirectResponse(f"/@{viewer.acting.username}", status_code=303)


routes: list[BaseRoute] = [
    Route("/statuses/{status_id:int}/favourite", favourite, methods=["POST"]),
    Route("/statuses/{status_id:int}/unfavourite", unfavourite, methods=["POST"]),
    Route("/statuses/{status_id:int}/reblog", reblog, methods=["POST"]),
    Route("/statuses/{status_id:int}/unreblog", unreblog, methods=["POST"]),
    Route("/statuses/{status_id:int}/delete", confirm_delete, methods=["GET"]),
    Route("/statuses/{status_id:int}/delete", delete, methods=["POST"]),
]
