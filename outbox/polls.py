"""Polls after their creation (`Outbox.publish`): votes, local and remote, their federation, their end.

Federation follows Mastodon: a poll is a `Question` (see `outbox.serializers.question_fields`); a
vote on a remote poll is a `Create` of a `Note` whose `name` is the option title, in reply to the
`Question` and addressed to its author only; the poll's server counts it and sends `Update(Question)`
with the new totals to everyone who has the poll.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import distinct, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.notify import notify
from fediverse.as2 import format_datetime
from fediverse.db import insert_ignoring_conflicts, utcnow
from fediverse.events import queue_event
from fediverse.ids import new_id
from fediverse.models import Actor, Follow, Mention, Notification, Poll, PollVote, Status
from fediverse.runtime import Runtime
from outbox.audience import follower_inboxes, inboxes_of
from outbox.commands import CommandError, NotFound, Outbox
from outbox.serializers import load_status_parts, status_to_as, update_activity, vote_activity

# Polls that ended longer ago than this are not looked at any more by the end-of-poll step.
END_LOOKBACK = timedelta(days=7)


def options_of(poll: Poll) -> list[dict[str, Any]]:
    return json.loads(poll.options_json or "[]")


def titles_of(poll: Poll) -> list[str]:
    return [str(o.get("title", "")) for o in options_of(poll)]


def is_expired(poll: Poll) -> bool:
    return poll.expires_at is not None and poll.expires_at <= utcnow()


async def locked_poll(session: AsyncSession, **where: int) -> Poll | None:
    """The poll row, locked for the transaction (PostgreSQL) so concurrent votes count in turn."""
    query = select(Poll).execution_options(populate_existing=True).with_for_update()
    for column, value in where.items():
        query = query.where(getattr(Poll, column) == value)
    return await session.scalar(query)


async def recount(session: AsyncSession, poll: Poll) -> None:
    """Totals of a local poll from its vote rows: every vote, local or remote, is stored here."""
    await session.flush()
    counts = dict((await session.execute(select(PollVote.choice, func.count()).where(
        PollVote.status_id == poll.status_id).group_by(PollVote.choice))).all())
    options = options_of(poll)
    for index, option in enumerate(options):
        option["votes"] = int(counts.get(index, 0))
    poll.options_json = json.dumps(options)
    poll.votes_count = sum(int(o["votes"]) for o in options)
    poll.voters_count = await session.scalar(select(func.count(distinct(PollVote.actor_id))).where(
        PollVote.status_id == poll.status_id)) or 0


def _check_choices(poll: Poll, choices: Sequence[int]) -> list[int]:
    wanted = list(dict.fromkeys(choices))
    if not wanted:
        raise CommandError("choose at least one option")
    if any(c < 0 or c >= len(options_of(poll)) for c in wanted):
        raise CommandError("this option does not exist")
    if len(wanted) > 1 and not poll.multiple:
        raise CommandError("this poll allows only one choice")
    if is_expired(poll):
        raise CommandError("the poll has already ended")
    return wanted


async def vote(outbox: Outbox, actor_id: int, poll_id: int, choices: Sequence[int]) -> Poll:
    """A local actor votes (once; several options only in a multiple-choice poll)."""
    async with outbox._transaction() as session:
        voter = await outbox._actor(session, actor_id, local=True)
        poll = await locked_poll(session, id=poll_id)
        if poll is None:
            raise NotFound("no such poll")
        status = await outbox._status(session, poll.status_id)
        wanted = _check_choices(poll, choices)
        if status.actor_id == voter.id:
            raise CommandError("you cannot vote in your own poll")
        if await session.scalar(select(PollVote.id).where(PollVote.status_id == status.id,
                                                         PollVote.actor_id == voter.id).limit(1)):
            raise CommandError("you have already voted on this poll")
        votes = [PollVote(id=new_id(), status_id=status.id, actor_id=voter.id, choice=c) for c in wanted]
        for row in votes:
            row.uri = f"{voter.uri}#votes/{row.id}"
            session.add(row)
        if status.local:
            await recount(session, poll)
            await distribute_poll(outbox, session, status, poll)
        else:
            await _count_remote_poll_vote(session, poll, wanted)
            author = await session.get(Actor, status.actor_id)
            assert author is not None
            titles = titles_of(poll)
            for row in votes:
                body = vote_activity(voter.uri, row.uri or "", titles[row.choice], status.uri, author.uri)
                await outbox._emit(session, voter, body, [author.inbox_url], object_uri=status.uri)
        queue_event(session, "status.updated", id=status.id)
        return poll


async def _count_remote_poll_vote(session: AsyncSession, poll: Poll, choices: list[int]) -> None:
    """Our copy of a remote poll shows the vote at once; the author's `Update` brings the real totals."""
    options = options_of(poll)
    for choice in choices:
        options[choice]["votes"] = int(options[choice].get("votes", 0)) + 1
    poll.options_json = json.dumps(options)
    poll.votes_count += len(choices)
    poll.voters_count += 1


async def count_remote_vote(outbox: Outbox, voter: Actor, status_id: int, title: str, vote_uri: str) -> bool:
    """A remote actor's vote on a local poll (a `Note` named after the option). False when it does not
    count (ended poll, unknown option, second choice in a single-choice poll, the author themself)."""
    async with outbox._transaction() as session:
        poll = await locked_poll(session, status_id=status_id)
        status = await session.get(Status, status_id)
        if poll is None or status is None or not status.local or status.actor_id == voter.id or is_expired(poll):
            return False
        titles = titles_of(poll)
        if title not in titles or not await _may_see(session, status, voter.id):
            return False
        choice = titles.index(title)
        previous = set((await session.scalars(select(PollVote.choice).where(
            PollVote.status_id == status_id, PollVote.actor_id == voter.id))).all())
        if choice in previous or (previous and not poll.multiple):
            return False
        row = {"id": new_id(), "status_id": status_id, "actor_id": voter.id, "choice": choice, "uri": vote_uri[:2048],
               "created_at": utcnow()}
        inserted = (await session.execute(insert_ignoring_conflicts(session, PollVote.__table__, [row])
                                          .returning(PollVote.__table__.c.id))).scalar()
        if inserted is None:
            return False
        await recount(session, poll)
        await distribute_poll(outbox, session, status, poll)
        queue_event(session, "status.updated", id=status.id)
        return True


async def _may_see(session: AsyncSession, status: Status, actor_id: int) -> bool:
    """Only those who can read a followers-only or direct poll may vote in it."""
    if status.visibility in ("public", "unlisted"):
        return True
    if await session.scalar(select(Mention.id).where(Mention.status_id == status.id, Mention.actor_id == actor_id)):
        return True
    return status.visibility == "private" and await session.scalar(select(Follow.id).where(
        Follow.follower_id == actor_id, Follow.followee_id == status.actor_id, Follow.state == "accepted")) is not None


async def distribute_poll(outbox: Outbox, session: AsyncSession, status: Status, poll: Poll) -> None:
    """`Update(Question)` with the new totals to the poll's audience and its remote voters (not while
    totals are hidden: Mastodon does not send them either)."""
    if poll.hide_totals and not is_expired(poll):
        return
    parts = await load_status_parts(session, status)
    parts.poll = poll
    author = parts.author
    inboxes = inboxes_of(parts.mentions)
    if status.visibility != "direct":
        inboxes += await follower_inboxes(session, author.id)
    voters = await session.scalars(select(Actor).join(PollVote, PollVote.actor_id == Actor.id).where(
        PollVote.status_id == status.id, Actor.domain.is_not(None)).distinct())
    inboxes += inboxes_of(voters)
    if not inboxes:
        return
    question = status_to_as(status, parts, outbox.uris, with_context=False)
    _, activity_uri = outbox._activity_uri(author)
    await outbox._emit(session, author, update_activity(activity_uri, author.uri, question), inboxes,
                       object_uri=status.uri)


# -- the end of a poll ----------------------------------------------------------------------------

ENDED_MARK = '%"closed"%'


async def close_ended_polls(runtime: Runtime, limit: int = 100) -> int:
    """Worker step: each poll that ended notifies its author (local polls) and its local voters
    (Mastodon's `poll` notification), once, and a local poll sends its final `Update(Question)`.
    The status keeps `closed` in `extra_json` as the mark (also the `closed` property of the
    federated `Question`). Returns how many polls ended."""
    now = utcnow()
    async with runtime.sessions() as session:
        ended = (await session.execute(
            select(Poll.id, Poll.status_id).join(Status, Status.id == Poll.status_id)
            .where(Poll.expires_at <= now, Poll.expires_at > now - END_LOOKBACK)
            .where(or_(Status.extra_json.is_(None), Status.extra_json.not_like(ENDED_MARK)))
            .order_by(Poll.expires_at).limit(limit))).all()
    outbox = Outbox(runtime)
    done = 0
    for poll_id, status_id in ended:
        async with runtime.transaction() as session:
            # Locked: a second worker waits here, then sees the mark and skips the poll.
            status = await session.get(Status, status_id, with_for_update=True, populate_existing=True)
            poll = await session.get(Poll, poll_id)
            if status is None or poll is None or poll.expires_at is None:
                continue
            extra = json.loads(status.extra_json) if status.extra_json else {}
            if "closed" in extra:
                continue
            extra["closed"] = format_datetime(poll.expires_at)
            status.extra_json = json.dumps(extra)
            author = await session.get(Actor, status.actor_id)
            if author is None:
                continue
            if author.domain is None:
                await _notify_author(session, author, status.id)
                # The final totals (and `closed`) reach the remote copies, hidden totals included.
                await distribute_poll(outbox, session, status, poll)
            voters = await session.scalars(select(Actor).join(PollVote, PollVote.actor_id == Actor.id).where(
                PollVote.status_id == status.id, Actor.domain.is_(None)).distinct())
            for voter in voters.all():
                await notify(session, voter, "poll", author.id, status.id)
            queue_event(session, "status.updated", id=status.id)
            done += 1
    if done:
        runtime.wake("delivery")
    return done


async def _notify_author(session: AsyncSession, author: Actor, status_id: int) -> None:
    """The author's own "your poll has ended" (the shared `notify` skips notifications to oneself)."""
    row = {"id": new_id(), "recipient_id": author.id, "kind": "poll", "from_actor_id": author.id,
           "status_id": status_id, "created_at": utcnow()}
    stmt = insert_ignoring_conflicts(session, Notification.__table__, [row]).returning(Notification.__table__.c.id)
    if (await session.execute(stmt)).scalar() is not None:
        queue_event(session, "notification.created", id=row["id"], recipient_id=author.id)
