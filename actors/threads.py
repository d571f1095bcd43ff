"""Who may read which status, and the thread around one status as a given viewer sees it.

The rules are Mastodon's: public and unlisted statuses for everyone; followers-only for accepted
followers and mentioned accounts; direct for the mentioned accounts; the author always. Nothing from
an author who blocks the viewer, nor from a suspended or deleted account; a boost is readable when
the boosted status is. A status the viewer may not read is answered as missing (never "forbidden":
its existence stays private).

The website's thread pages and the Mastodon API (`/api/v1/statuses/:id`, `/context`) both use them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.models import Actor, Block, Follow, Mention, Status

PUBLIC_VISIBILITIES = ("public", "unlisted")
MAX_ANCESTORS = 40
MAX_DESCENDANTS = 400
MAX_DEPTH = 64
MAX_STATUS_ID = 2**63 - 1


async def readable_statuses(session: AsyncSession, viewer_id: int | None,
                            statuses: Sequence[Status]) -> list[Status]:
    """The statuses `viewer_id` (None: an anonymous visitor) may read, in the given order; a fixed
    number of queries whatever the number of statuses."""
    if not statuses:
        return []
    boosted_ids = {s.reblog_of_id for s in statuses if s.reblog_of_id}
    originals: dict[int, Status] = {}
    if boosted_ids:
        originals = {s.id: s for s in await session.scalars(select(Status).where(Status.id.in_(list(boosted_ids))))}
    subjects = {s.id: originals.get(s.reblog_of_id) if s.reblog_of_id else s for s in statuses}
    subject_list = [s for s in subjects.values() if s is not None]
    author_ids = list({s.actor_id for s in statuses} | {s.actor_id for s in subject_list})
    hidden_authors = set((await session.scalars(select(Actor.id).where(
        Actor.id.in_(author_ids), or_(Actor.suspended_at.is_not(None), Actor.deleted_at.is_not(None))))).all())
    followed: set[int] = set()
    mentioned: set[int] = set()
    if viewer_id is not None:
        hidden_authors |= set((await session.scalars(select(Block.actor_id).where(
            Block.target_id == viewer_id, Block.actor_id.in_(author_ids)))).all())
        restricted = [s for s in subject_list if s.visibility not in PUBLIC_VISIBILITIES and s.actor_id != viewer_id]
        if restricted:
            mentioned = set((await session.scalars(select(Mention.status_id).where(
                Mention.actor_id == viewer_id, Mention.status_id.in_([s.id for s in restricted])))).all())
            followed = set((await session.scalars(select(Follow.followee_id).where(
                Follow.follower_id == viewer_id, Follow.state == "accepted",
                Follow.followee_id.in_(list({s.actor_id for s in restricted}))))).all())

    def readable(status: Status) -> bool:
        if status.actor_id in hidden_authors:
            return False
        if status.visibility in PUBLIC_VISIBILITIES or status.actor_id == viewer_id:
            return True
        if viewer_id is None:
            return False
        return status.id in mentioned or (status.visibility == "private" and status.actor_id in followed)

    result = []
    for status in statuses:
        subject = subjects[status.id]
        if subject is not None and status.actor_id not in hidden_authors and readable(subject):
            result.append(status)
    return result


async def readable_status(session: AsyncSession, viewer_id: int | None, status_id: int) -> Status | None:
    """The status when it exists and the viewer may read it; None otherwise (also for ids out of range)."""
    if not 0 < status_id <= MAX_STATUS_ID:
        return None
    status = await session.get(Status, status_id)
    if status is None or not await readable_statuses(session, viewer_id, [status]):
        return None
    return status


@dataclass
class Thread:
    """A status with what it answers (oldest first) and the replies to it (depth first, each reply
    right after the one it answers, with its depth for indentation); only what the viewer may read."""

    status: Status
    ancestors: list[Status] = field(default_factory=list)
    descendants: list[tuple[Status, int]] = field(default_factory=list)


async def thread_of(session: AsyncSession, viewer_id: int | None, status: Status) -> Thread:
    """The thread around a status the viewer may read, bounded in depth and size so that a huge
    conversation costs a bounded number of queries."""
    seen = {status.id}
    ancestors: list[Status] = []
    cursor = status
    while cursor.in_reply_to_id is not None and len(ancestors) < MAX_ANCESTORS:
        parent = await session.get(Status, cursor.in_reply_to_id)
        if parent is None or parent.id in seen:
            break
        seen.add(parent.id)
        ancestors.append(parent)
        cursor = parent
    ancestors.reverse()
    children: dict[int, list[Status]] = defaultdict(list)
    frontier, total, depth = [status.id], 0, 0
    while frontier and total < MAX_DESCENDANTS and depth < MAX_DEPTH:
        rows = [row for row in (await session.scalars(select(Status).where(
            Status.in_reply_to_id.in_(frontier), Status.reblog_of_id.is_(None))
            .order_by(Status.id).limit(MAX_DESCENDANTS - total))).all() if row.id not in seen]
        for row in rows:
            seen.add(row.id)
            children[row.in_reply_to_id or 0].append(row)
        total += len(rows)
        frontier = [row.id for row in rows]
        depth += 1
    readable = {s.id for s in await readable_statuses(
        session, viewer_id, [s for replies in children.values() for s in replies])}
    descendants: list[tuple[Status, int]] = []
    # A reply the viewer may not read hides the replies under it too (they answer something unseen).
    stack = [(child, 1) for child in reversed(children[status.id])]
    while stack:
        node, level = stack.pop()
        if node.id not in readable:
            continue
        descendants.append((node, level))
        stack.extend((child, level + 1) for child in reversed(children.get(node.id, [])))
    return Thread(status=status, ancestors=await readable_statuses(session, viewer_id, ancestors),
                  descendants=descendants)
