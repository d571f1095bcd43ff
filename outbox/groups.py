"""Interest groups (FEP-1b12): a group re-shares what its members address to it (territory issue).

A post is for a local group when the group is in its `to`/`cc`/`audience` or mentioned, or when it
replies to a post the group re-shared (a group thread). When its author is a member (an accepted
follower, or a moderator) and the post is public or unlisted, the group sends
`Announce {actor: group, object: <post id>}` to its members, with a boost row so local members see
"group boosted X" in their home timeline and the usual unboost path can undo it. The object is the
post's id, not the Create: Mastodon shows an Announce of a Note as a boost but drops
Announce(Create) (Lemmy sends the same object-id form for that reason). A public group addresses
its Announces to Public; a members-only group to its followers only, and they stay out of its
public outbox.

Followers-only and direct posts are never re-shared: members on other servers would have to fetch
them, and their servers may not show them (Mastodon only boosts public and unlisted posts).

Moderation: removing a post is the group's unboost (`Undo(Announce)` to members); removing a member
rejects their Follow (`Reject(Follow)`, like Mastodon's remove_from_followers).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.groups import GROUP_KIND, GroupError, is_group, is_member, members_only
from actors.notify import bump, notify
from fediverse.as2 import format_datetime, id_of
from fediverse.events import queue_event
from fediverse.ids import new_id
from fediverse.models import Actor, Follow, Mention, Status
from fediverse.uris import PUBLIC, Uris
from outbox.audience import follower_inboxes, inboxes_of
from outbox.serializers import wrap

if TYPE_CHECKING:
    from outbox.command_base import CommandBase
    from outbox.follows import FollowCommands
    from outbox.interactions import InteractionCommands

RESHARED_VISIBILITIES = ("public", "unlisted")
MAX_ADDRESSED = 200


def _addressed_uris(status: Status) -> list[str]:
    """Local actor URIs the status names in `to`, `cc` or `audience` (bounded: remote input)."""
    extra = json.loads(status.extra_json) if status.extra_json else {}
    audience = extra.get("audience") if isinstance(extra, dict) else None
    candidates = json.loads(status.to_json or "[]") + json.loads(status.cc_json or "[]")
    candidates += audience if isinstance(audience, list) else [audience]
    return list(dict.fromkeys(uri for uri in (id_of(c) for c in candidates[:MAX_ADDRESSED]) if uri))


async def groups_addressed(session: AsyncSession, uris: Uris, status: Status) -> list[Actor]:
    """The local groups this status is for: addressed, mentioned, or owning the thread it replies to."""
    local_uris = [uri for uri in _addressed_uris(status) if uris.is_local(uri)]
    local_group = (Actor.domain_key == "", Actor.kind == GROUP_KIND, Actor.deleted_at.is_(None))
    found: dict[int, Actor] = {}
    if local_uris:
        for actor in await session.scalars(select(Actor).where(Actor.uri.in_(local_uris), *local_group)):
            found[actor.id] = actor
    for actor in await session.scalars(select(Actor).join(Mention, Mention.actor_id == Actor.id)
                                       .where(Mention.status_id == status.id, *local_group)):
        found[actor.id] = actor
    if status.in_reply_to_id is not None:
        parent = await session.get(Status, status.in_reply_to_id)
        thread_owners = select(Status.actor_id).where(Status.reblog_of_id == status.in_reply_to_id)
        owner = Actor.id.in_(thread_owners)
        if parent is not None:
            owner = or_(owner, Actor.id == parent.actor_id)
        for actor in await session.scalars(select(Actor).where(*local_group, owner)):
            found[actor.id] = actor
    return [found[key] for key in sorted(found)]


async def set_group_audience(session: AsyncSession, uris: Uris, status: Status) -> None:
    """Give a local status addressed to a local group FEP-1b12's `audience` (kept in extra_json, which
    the Note serializer merges in); meant to run before the Create is serialized."""
    if status.reblog_of_id is not None:
        return
    groups = [g for g in await groups_addressed(session, uris, status) if g.id != status.actor_id]
    if not groups:
        return
    extra = json.loads(status.extra_json) if status.extra_json else {}
    if "audience" in extra:
        return
    extra["audience"] = groups[0].uri if len(groups) == 1 else [g.uri for g in groups]
    status.extra_json = json.dumps(extra)


async def _announce(cmd: CommandBase, session: AsyncSession, group: Actor, author: Actor, status: Status) -> None:
    """The group's boost row and its Announce to every member's inbox (and the author's)."""
    boost_id = new_id()
    activity_uri = cmd.uris.activity(group.username, boost_id)
    followers = group.followers_url or f"{group.uri}/followers"
    restricted = members_only(group)
    to, cc = ([followers], [author.uri]) if restricted else ([PUBLIC], [followers, author.uri])
    boost = Status(id=boost_id, uri=activity_uri, actor_id=group.id, local=True,
                   visibility="private" if restricted else "public", reblog_of_id=status.id,
                   activity_uri=activity_uri, to_json=json.dumps(to), cc_json=json.dumps(cc))
    session.add(boost)
    await session.flush()
    queue_event(session, "status.created", id=boost.id)
    await bump(session, Status, status.id, "reblogs_count", 1)
    await notify(session, author, "reblog", group.id, status.id)
    body = wrap("Announce", activity_uri, group.uri, status.uri, to=to, cc=cc,
                published=format_datetime(boost.published))
    inboxes = inboxes_of([author]) + await follower_inboxes(session, group.id)
    await cmd._emit(session, group, body, inboxes, object_uri=status.uri, public=not restricted,
                    activity_id=boost_id)


async def _reshare(cmd: CommandBase, session: AsyncSession, author: Actor, status: Status) -> list[Actor]:
    """Re-share `status` by each local group it is for whose member wrote it; the groups that did."""
    if status.reblog_of_id is not None or status.visibility not in RESHARED_VISIBILITIES:
        return []
    shared: list[Actor] = []
    for group in await groups_addressed(session, cmd.uris, status):
        if group.id == author.id or not await is_member(session, group, author.id):
            continue
        already = await session.scalar(select(Status.id).where(
            Status.actor_id == group.id, Status.reblog_of_id == status.id))
        if already is None:
            await _announce(cmd, session, group, author, status)
            shared.append(group)
    return shared


async def reshare_to_groups(cmd: CommandBase, session: AsyncSession, author: Actor, status: Status) -> None:
    """Called in the author's posting transaction (outbox/fanout.py): all or nothing with the post
    (its `audience` was set before the Create was serialized: `set_group_audience`)."""
    await _reshare(cmd, session, author, status)


async def reshare_remote_post(outbox: CommandBase, status_id: int) -> list[Actor]:
    """A remote post was stored (inbox Create): the local groups it is for re-share it, in their own
    transaction. Non-members' posts are left as they are."""
    async with outbox._transaction() as session:
        status = await session.get(Status, status_id)
        if status is None or status.local:
            return []
        author = await session.get(Actor, status.actor_id)
        if author is None or author.deleted_at is not None or author.suspended_at is not None:
            return []
        return await _reshare(outbox, session, author, status)


async def group_member_inboxes_for(session: AsyncSession, status: Status) -> list[str]:
    """Inboxes of the members of the local groups that re-shared `status`: an Update or Delete of the post
    must reach them too (they may not follow its author)."""
    groups = await session.scalars(select(Status.actor_id).join(Actor, Actor.id == Status.actor_id).where(
        Status.reblog_of_id == status.id, Actor.domain_key == "", Actor.kind == GROUP_KIND))
    inboxes: list[str] = []
    for group_id in groups.all():
        inboxes += await follower_inboxes(session, group_id)
    return inboxes


# -- moderation (CLI, and the group's own Mastodon apps through unreblog / remove_from_followers) --

async def _group(session: AsyncSession, group_id: int) -> Actor:
    group = await session.get(Actor, group_id)
    if not is_group(group):
        raise GroupError("not a local group")
    assert group is not None
    return group


async def remove_group_post(outbox: InteractionCommands, group_id: int, status_uri: str) -> Status:
    """Withdraw the group's re-share of a post (`Undo(Announce)` to members); the post itself stays."""
    async with outbox.runtime.sessions() as session:
        group = await _group(session, group_id)
        status = await session.scalar(select(Status).where(Status.uri == status_uri[:2048]))
        if status is None:
            status = await session.scalar(select(Status).where(Status.url == status_uri[:2048]))
        boost = await session.scalar(select(Status.id).where(
            Status.actor_id == group.id, Status.reblog_of_id == status.id)) if status is not None else None
    if status is None or boost is None:
        raise GroupError(f"{group.username} has not shared {status_uri}")
    await outbox.unboost(group.id, status.id)
    return status


async def remove_group_member(outbox: FollowCommands, group_id: int, member_id: int) -> None:
    """End a membership (or refuse a pending request): the follow row goes, a remote member's server
    gets `Reject(Follow)` so their side drops it too."""
    async with outbox.runtime.sessions() as session:
        group = await _group(session, group_id)
        follow = await session.scalar(select(Follow.id).where(
            Follow.follower_id == member_id, Follow.followee_id == group.id))
    if follow is None:
        raise GroupError(f"not a member of {group.username}")
    await outbox.answer_follow_request(group.id, member_id, accept=False)
