"""The page of an interest group (FEP-1b12, actors/groups.py) at its profile address `/@group`.

A group is joined by following it and posted to by mentioning it, from this website or from any
fediverse app (Mastodon, Friendica, Lemmy...): the page says how, shows the presentation, the
number of members (and who they are when the group is public), its moderators, and its recent
discussions, which are the posts the group re-shared. A members-only group shows its discussions
to members only, and never lists its members.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from actors import profile_views
from actors.groups import is_member, members_only
from actors.status_views import status_views
from fediverse.runtime import Runtime
from fediverse.sanitize import html_to_text
from fediverse.web.auth import SignedIn, page

DISCUSSIONS_PAGE = 20
GROUP_EVENTS = 5
MAX_LISTED_MEMBERS = 100


async def group_page(request: Request, viewer: SignedIn | None, profile: Any, before: int | None) -> Response:
    """`profile` is the account pages' ProfileContext (fediverse/web/profile_pages.py) of the group."""
    runtime: Runtime = request.app.state.runtime
    group = profile.actor
    reader = viewer.acting.id if viewer is not None else None
    async with runtime.sessions() as session:
        shares = await profile_views.group_shares(session, group, reader, before=before, limit=DISCUSSIONS_PAGE)
        discussions = await status_views(session, reader, shares.rows)
        members = await profile_views.group_membership(session, group)
        viewer_is_member = reader is not None and await is_member(session, group, reader)
        events = await profile_views.upcoming_cards(session, group, runtime.settings.domain, GROUP_EVENTS) \
            if before is None else []
        profile.organises = await profile_views.organises(session, group)
    restricted = members_only(group)
    moderators = [member for member in members if member.role in ("admin", "editor")]
    listed = [] if restricted else members[:MAX_LISTED_MEMBERS]
    title = f"{group.display_name or group.username} (@{profile.handle})"
    og = {"title": title, "description": html_to_text(group.summary or ""), "image": group.icon_url, "type": "profile",
          "url": f"{runtime.settings.base_url}{profile.path}"}
    alternates = [("application/activity+json", group.uri, None)]
    if profile.organises:
        alternates.append(("text/calendar", f"/@{group.username}/agenda.ics", None))
    return page(request, "groups/group.html", viewer, profile=profile, actor=group, discussions=discussions,
                older=shares.older, member_count=len(members), members=listed, moderators=moderators,
                restricted=restricted, viewer_is_member=viewer_is_member, first_page=before is None, events=events,
                og=og, alternates=alternates)
