"""Deleting one's own account, the way Mastodon does it.

One transaction:
- a `Delete` of the actor is queued for the followers' inboxes and every other inbox this server knows
  (the receiving servers then drop the account, its posts and its follows);
- the posts go (each leaves a tombstone, so a late copy cannot bring it back), and so do the follows,
  favourites, bookmarks, lists, mutes, blocks, notes, filters and participations, with the counters of
  the other side kept right;
- the login goes with its app tokens, codes, browser sessions and team memberships;
- the actor row stays, marked deleted and emptied: its profile, actor document and WebFinger answer
  are gone, and the username can never be taken again (remote servers remember the old account).

The actor keeps its key pair: the queued `Delete` is signed with it when the delivery worker sends it.
A person who is the last admin of a team must first name another admin, or the team's account would
be left without anyone to manage it. Media files are deleted once the transaction is committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from actors.notify import bump
from fediverse.db import utcnow
from fediverse.events import queue_event
from fediverse.media import discard, media_storage
from fediverse.models import (
    AccountNote,
    Actor,
    AnnouncementRead,
    Attachment,
    Block,
    Bookmark,
    ConversationMute,
    ConversationState,
    Endorsement,
    Event,
    Favourite,
    FeaturedStatus,
    Filter,
    Follow,
    FollowOptions,
    IdempotencyKey,
    ListMember,
    Marker,
    Mute,
    Notification,
    OAuthGrant,
    OAuthToken,
    Participation,
    ScheduledStatus,
    Status,
    SuggestionDismissal,
    TagFollow,
    TeamAction,
    TeamMember,
    Tombstone,
    User,
    UserList,
)
from fediverse.uris import PUBLIC
from outbox.audience import follower_inboxes
from outbox.command_base import CommandBase
from outbox.errors import CommandError
from outbox.participation import free_place
from outbox.serializers import wrap

# The person's own rows that go with them, each named by the column that points at their actor.
PRIVATE_ROWS = (
    (AccountNote, AccountNote.actor_id), (AccountNote, AccountNote.target_id),
    (AnnouncementRead, AnnouncementRead.actor_id),
    (Block, Block.actor_id), (Bookmark, Bookmark.actor_id), (ConversationMute, ConversationMute.actor_id),
    (ConversationState, ConversationState.actor_id), (Endorsement, Endorsement.actor_id),
    (Endorsement, Endorsement.target_id), (FeaturedStatus, FeaturedStatus.actor_id), (Filter, Filter.actor_id),
    (FollowOptions, FollowOptions.actor_id), (FollowOptions, FollowOptions.target_id),
    (IdempotencyKey, IdempotencyKey.actor_id), (ListMember, ListMember.actor_id), (UserList, UserList.actor_id),
    (Marker, Marker.actor_id), (Mute, Mute.actor_id), (Notification, Notification.recipient_id),
    (Notification, Notification.from_actor_id), (ScheduledStatus, ScheduledStatus.actor_id),
    (SuggestionDismissal, SuggestionDismissal.actor_id), (TagFollow, TagFollow.actor_id),
    (TeamAction, TeamAction.actor_id), (OAuthToken, OAuthToken.actor_id), (OAuthGrant, OAuthGrant.actor_id),
)


@dataclass(frozen=True)
class TeamName:
    """A team account named in a refusal (plain values: the refused transaction's rows are gone)."""

    username: str
    display_name: str


class AccountDeletionError(CommandError):
    """The account cannot be deleted yet; `teams` are the team accounts it is the last admin of."""

    def __init__(self, message: str, teams: list[TeamName] | None = None) -> None:
        super().__init__(message)
        self.teams = teams or []


@dataclass
class DeletedAccount:
    """What the deletion did, for the edge to tell."""

    username: str
    statuses: int = 0
    inboxes: int = 0
    files: list[str] = field(default_factory=list)


async def teams_needing_an_admin(session: AsyncSession, user_id: int) -> list[Actor]:
    """The live team accounts whose only active admin is this user."""
    admins = (select(TeamMember.actor_id).where(TeamMember.state == "active", TeamMember.role == "admin")
              .group_by(TeamMember.actor_id).having(func.count() == 1))
    rows = await session.scalars(
        select(Actor).join(TeamMember, TeamMember.actor_id == Actor.id)
        .where(TeamMember.user_id == user_id, TeamMember.state == "active", TeamMember.role == "admin",
               Actor.deleted_at.is_(None), Actor.id.in_(admins)).order_by(Actor.username_lower))
    return list(rows.all())


def _known_inboxes() -> Select[tuple[str | None]]:
    """Every remote inbox this server knows (one per shared inbox): Mastodon tells them all."""
    return (select(func.coalesce(Actor.shared_inbox_url, Actor.inbox_url))
            .where(Actor.domain.is_not(None), Actor.deleted_at.is_(None)).distinct())


class AccountDeletion(CommandBase):
    """`AccountDeletion(runtime).delete_account(user_id)`: see the module's docstring."""

    async def delete_account(self, user_id: int) -> DeletedAccount:
        async with self._transaction() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise CommandError("no such user")
            actor = await self._actor(session, user.actor_id, local=True)
            orphaned = await teams_needing_an_admin(session, user.id)
            if orphaned:
                raise AccountDeletionError("name another admin of your teams first: "
                                           + ", ".join(team.username for team in orphaned),
                                           [TeamName(team.username, team.display_name) for team in orphaned])
            inboxes = [*await follower_inboxes(session, actor.id), *(await session.scalars(_known_inboxes())).all()]
            inboxes = [inbox for inbox in dict.fromkeys(inboxes) if inbox]
            body = wrap("Delete", f"{actor.uri}#delete", actor.uri, actor.uri, to=[PUBLIC])
            await self._emit(session, actor, body, inboxes, object_uri=actor.uri)
            result = DeletedAccount(username=actor.username, inboxes=len(inboxes))
            result.files = await self._media_files(session, actor)
            await self._drop_follows(session, actor.id)
            await self._drop_interactions(session, actor.id)
            result.statuses = await self._drop_statuses(session, actor)
            for model, column in PRIVATE_ROWS:
                await session.execute(delete(model).where(column == actor.id))
            await session.execute(delete(Attachment).where(Attachment.actor_id == actor.id))
            await session.delete(user)  # its tokens, codes, browser sessions and team memberships go with it
            await session.execute(update(Actor).where(Actor.id == actor.id).values(
                deleted_at=utcnow(), updated=utcnow(), display_name="", summary="", source_note=None,
                fields_json="[]", also_known_as="[]", icon_url=None, icon_static_url=None, image_url=None,
                image_static_url=None, discoverable=False, statuses_count=0, followers_count=0,
                following_count=0, last_status_at=None))
        await discard(self.runtime, *result.files)
        return result

    async def _media_files(self, session: AsyncSession, actor: Actor) -> list[str]:
        """The stored files of the account's uploads, avatar and header (deleted after the commit)."""
        rows = await session.execute(select(Attachment.file_name, Attachment.preview_file_name).where(
            Attachment.actor_id == actor.id, Attachment.remote_url.is_(None)))
        storage = media_storage(self.runtime.settings)
        names = [name for pair in rows for name in pair]
        names += [storage.name_for_url(url) for url in (actor.icon_url, actor.icon_static_url, actor.image_url,
                                                         actor.image_static_url)]
        return [name for name in dict.fromkeys(names) if name]

    async def _drop_follows(self, session: AsyncSession, actor_id: int) -> None:
        """Follows both ways, with the other side's follower/following count (as an incoming actor Delete)."""
        follows = await session.scalars(select(Follow).where(
            (Follow.follower_id == actor_id) | (Follow.followee_id == actor_id)))
        for follow in follows.all():
            if follow.state == "accepted":
                other, column = ((follow.followee_id, "followers_count") if follow.follower_id == actor_id
                                 else (follow.follower_id, "following_count"))
                await bump(session, Actor, other, column, -1)
            await session.delete(follow)

    async def _drop_interactions(self, session: AsyncSession, actor_id: int) -> None:
        """Favourites and event participations, counted off the statuses and events they were on."""
        liked = await session.scalars(select(Favourite.status_id).where(Favourite.actor_id == actor_id))
        for status_id in liked.all():
            await bump(session, Status, status_id, "favourites_count", -1)
        await session.execute(delete(Favourite).where(Favourite.actor_id == actor_id))
        joined = await session.scalars(select(Event).join(Participation, Participation.event_id == Event.id).where(
            Participation.actor_id == actor_id, Participation.state == "accepted", Event.local.is_(True)))
        for event in joined.all():
            await free_place(session, event)
        await session.execute(delete(Participation).where(Participation.actor_id == actor_id))

    async def _drop_statuses(self, session: AsyncSession, actor: Actor) -> int:
        """The account's posts and boosts: tombstones for its posts, counters of what they answered or boosted."""
        rows = (await session.execute(select(Status.id, Status.uri, Status.in_reply_to_id, Status.reblog_of_id)
                                      .where(Status.actor_id == actor.id))).all()
        own = {row.id for row in rows}
        for row in rows:
            if row.reblog_of_id is not None and row.reblog_of_id not in own:
                await bump(session, Status, row.reblog_of_id, "reblogs_count", -1)
            elif row.reblog_of_id is None:
                if row.in_reply_to_id is not None and row.in_reply_to_id not in own:
                    await bump(session, Status, row.in_reply_to_id, "replies_count", -1)
                session.add(Tombstone(uri=row.uri, actor_uri=actor.uri))
            queue_event(session, "status.deleted", id=row.id)
        await session.flush()
        await session.execute(delete(Status).where(Status.actor_id == actor.id))
        return sum(1 for row in rows if row.reblog_of_id is None)
