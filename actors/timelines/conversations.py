"""Direct-message conversations: states brought up to date lazily from the direct messages, read
and hidden by the viewer."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from actors.timelines.errors import Missing
from actors.timelines.paging import Window, paginate
from actors.timelines.relations import load_relations
from fediverse.db import insert_ignoring_conflicts
from fediverse.ids import new_id
from fediverse.models import Actor, ConversationState, Mention, Status

# Direct messages are re-scanned this far behind the newest one already grouped (ids are time-ordered,
# and a status committed late by another process may carry a slightly older id).
CONVERSATION_RESCAN_MS = 10 * 60 * 1000


@dataclass(frozen=True)
class ConversationView:
    state: ConversationState
    last_status: Status
    accounts: list[Actor]


def _conversation_key(status: Status) -> str:
    return status.conversation_uri or status.uri


async def _latest_direct(session: AsyncSession, viewer_id: int, key: str) -> Status | None:
    """The newest direct message of a conversation the viewer wrote or was mentioned in (two lookups
    bounded by the viewer's own messages and mentions: `conversation_uri` has no index)."""
    in_conversation = and_(Status.visibility == "direct", or_(Status.conversation_uri == key, Status.uri == key))
    written = await session.scalar(select(func.max(Status.id)).where(Status.actor_id == viewer_id, in_conversation))
    received = await session.scalar(select(func.max(Status.id)).join(Mention, Mention.status_id == Status.id)
                                    .where(Mention.actor_id == viewer_id, in_conversation))
    newest = max(written or 0, received or 0)
    return await session.get(Status, newest) if newest else None


async def sync_conversations(session: AsyncSession, viewer_id: int) -> None:
    """Bring the viewer's conversation states up to date with the direct messages received since
    the last look (created lazily here rather than on every incoming message)."""
    newest_known = await session.scalar(select(func.max(ConversationState.last_status_id)).where(
        ConversationState.actor_id == viewer_id))
    floor = newest_known - (CONVERSATION_RESCAN_MS << 16) if newest_known else None
    hidden = (await load_relations(session, viewer_id)).hidden
    authored = select(Status.id).where(Status.actor_id == viewer_id, Status.visibility == "direct")
    mentioned = (select(Status.id).join(Mention, Mention.status_id == Status.id)
                 .where(Mention.actor_id == viewer_id, Status.visibility == "direct"))
    if floor is not None:
        authored = authored.where(Status.id > floor)
        mentioned = mentioned.where(Status.id > floor)
    ids = set(await session.scalars(authored)) | set(await session.scalars(mentioned))
    if not ids:
        return
    newest: dict[str, Status] = {}
    for status in await session.scalars(select(Status).where(Status.id.in_(ids))):
        if status.actor_id in hidden:
            continue
        key = _conversation_key(status)
        if key not in newest or status.id > newest[key].id:
            newest[key] = status
    if not newest:
        return
    known = dict((await session.execute(select(ConversationState.conversation_uri, ConversationState.last_status_id)
                                        .where(ConversationState.actor_id == viewer_id,
                                               ConversationState.conversation_uri.in_(list(newest))))).all())
    fresh = [{"id": new_id(), "actor_id": viewer_id, "conversation_uri": key, "last_status_id": s.id,
              "unread": s.actor_id != viewer_id, "hidden": False} for key, s in newest.items() if key not in known]
    if fresh:
        await session.execute(insert_ignoring_conflicts(session, ConversationState.__table__, fresh,
                                                        "actor_id", "conversation_uri"))
    for key, status in newest.items():
        if key in known and (known[key] is None or known[key] < status.id):
            await session.execute(update(ConversationState).where(
                ConversationState.actor_id == viewer_id, ConversationState.conversation_uri == key,
                or_(ConversationState.last_status_id.is_(None), ConversationState.last_status_id < status.id))
                .values(last_status_id=status.id, unread=status.actor_id != viewer_id, hidden=False))


async def conversations_page(session: AsyncSession, viewer_id: int, window: Window) -> list[ConversationView]:
    """Visible conversations, most recently active first (paginated by last status id, like Mastodon)."""
    await sync_conversations(session, viewer_id)
    query = select(ConversationState).where(ConversationState.actor_id == viewer_id,
                                            ConversationState.hidden.is_(False),
                                            ConversationState.last_status_id.is_not(None))
    states = await paginate(session, query, ConversationState.last_status_id, window,
                            lambda s: s.last_status_id or 0)
    return await _conversation_views(session, viewer_id, states)


async def _conversation_views(session: AsyncSession, viewer_id: int,
                              states: list[ConversationState]) -> list[ConversationView]:
    ids = [s.last_status_id for s in states if s.last_status_id]
    statuses = {s.id: s for s in await session.scalars(select(Status).where(Status.id.in_(ids)))} if ids else {}
    for state in states:
        if state.last_status_id not in statuses:  # the last message was deleted: fall back to the previous one
            previous = await _latest_direct(session, viewer_id, state.conversation_uri)
            if previous is None:
                state.hidden = True
                continue
            state.last_status_id = previous.id
            statuses[previous.id] = previous
    await session.flush()
    live = [s for s in states if not s.hidden and s.last_status_id in statuses]
    wanted = [statuses[s.last_status_id] for s in live if s.last_status_id]
    participants: dict[int, list[int]] = {s.id: [s.actor_id] for s in wanted}
    if wanted:
        for status_id, actor_id in (await session.execute(select(Mention.status_id, Mention.actor_id).where(
                Mention.status_id.in_([s.id for s in wanted])).order_by(Mention.id))).all():
            participants[status_id].append(actor_id)
    actor_ids = {a for ids_ in participants.values() for a in ids_} | {viewer_id}
    actors = {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(actor_ids)))}
    views = []
    for state in live:
        status = statuses[state.last_status_id or 0]
        others = [actors[a] for a in dict.fromkeys(participants[status.id]) if a != viewer_id and a in actors]
        views.append(ConversationView(state, status, others or [actors[viewer_id]]))
    return views


async def get_conversation(session: AsyncSession, viewer_id: int, state_id: int) -> ConversationState:
    state = await session.get(ConversationState, state_id)
    if state is None or state.actor_id != viewer_id:
        raise Missing("Record not found")
    return state


async def read_conversation(session: AsyncSession, viewer_id: int, state_id: int) -> ConversationView | None:
    state = await get_conversation(session, viewer_id, state_id)
    state.unread = False
    await session.flush()
    views = await _conversation_views(session, viewer_id, [state])
    return views[0] if views else None


async def hide_conversation(session: AsyncSession, viewer_id: int, state_id: int) -> None:
    """Mastodon removes the conversation from the list; a new message brings it back."""
    state = await get_conversation(session, viewer_id, state_id)
    state.hidden = True
    state.unread = False
