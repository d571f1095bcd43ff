"""One private conversation as a participant reads it: its messages in order and the people in it.

Conversations themselves (the viewer's list, unread and hidden states) are actors.timelines'
(`conversations_page`, `get_conversation`...), shared with the Mastodon API; this adds what a page
needs to show a conversation whole. Only direct messages the viewer wrote or was mentioned in are
read: never someone else's side of a conversation they were not addressed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.timelines import get_conversation, sync_conversations
from actors.timelines.relations import load_relations
from fediverse.models import Actor, ConversationState, Mention, Status

MAX_MESSAGES = 200


@dataclass
class Conversation:
    """A conversation's messages, oldest first (the latest MAX_MESSAGES), and the other participants."""

    state: ConversationState
    messages: list[Status] = field(default_factory=list)
    participants: list[Actor] = field(default_factory=list)

    @property
    def last(self) -> Status | None:
        return self.messages[-1] if self.messages else None


async def conversation_of(session: AsyncSession, viewer_id: int, state_id: int, *,
                          mark_read: bool = True) -> Conversation:
    """The conversation `state_id` of the viewer (actors.timelines.Missing when it is not theirs),
    marked as read unless asked otherwise."""
    state = await get_conversation(session, viewer_id, state_id)
    key = state.conversation_uri
    in_conversation = and_(Status.visibility == "direct", or_(Status.conversation_uri == key, Status.uri == key))
    # Two lookups bounded by the viewer's own messages and mentions (`conversation_uri` has no index).
    written = await session.scalars(select(Status).where(Status.actor_id == viewer_id, in_conversation)
                                    .order_by(Status.id.desc()).limit(MAX_MESSAGES))
    received = await session.scalars(select(Status).join(Mention, Mention.status_id == Status.id)
                                     .where(Mention.actor_id == viewer_id, in_conversation)
                                     .order_by(Status.id.desc()).limit(MAX_MESSAGES))
    hidden = (await load_relations(session, viewer_id)).hidden
    by_id = {s.id: s for s in [*written.all(), *received.all()] if s.actor_id not in hidden}
    messages = sorted(by_id.values(), key=lambda s: s.id)[-MAX_MESSAGES:]
    people: list[int] = [s.actor_id for s in messages]
    if messages:
        people += list((await session.scalars(select(Mention.actor_id).where(
            Mention.status_id.in_([s.id for s in messages])).order_by(Mention.id))).all())
    others = [i for i in dict.fromkeys(people) if i != viewer_id]
    actors = {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(others)))} if others else {}
    if mark_read and state.unread:
        state.unread = False
        await session.flush()
    return Conversation(state=state, messages=messages, participants=[actors[i] for i in others if i in actors])


async def conversation_state_for(session: AsyncSession, viewer_id: int, status: Status) -> ConversationState | None:
    """The viewer's state of the conversation a direct message belongs to (brought up to date first),
    so that a message just sent leads to its conversation page."""
    await sync_conversations(session, viewer_id)
    key = status.conversation_uri or status.uri
    return await session.scalar(select(ConversationState).where(
        ConversationState.actor_id == viewer_id, ConversationState.conversation_uri == key))
