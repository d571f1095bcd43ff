"""RSVP from any Mastodon app: a reply to an event whose text says "je participe" joins it, one that
says "je ne viens plus" leaves it.

The matcher works on words, not characters: the text is lower-cased, stripped of accents, mentions,
hashtags and links, apostrophes become spaces ("j'y vais" -> "j y vais"), and it is cut into clauses at
punctuation. A clause counts only when it holds one of the phrases below as whole words, is not a
question, and is not negated ("ne"/"n'"/"pas"/"plus"/"jamais"/"non" just before, "pas"/"plus"/"jamais"/
"point" just after: "je participe pas", "je ne suis pas inscrit" do not join). A leaving phrase wins
over a joining one in the same reply.

Local replies are read in the transaction that posts them (outbox.fanout.after_publish); replies from
other servers once stored (inbox Create). A refusal (event full, cancelled, external registration) does
not stop the reply: it is posted as any reply, without participation. Remote repliers get no Accept
(Mastodon would not understand it): they see the count on the event's page and in its document.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import TYPE_CHECKING, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from actors.events import event_for_status
from fediverse.models import Actor, Status
from fediverse.runtime import Runtime
from fediverse.sanitize import html_to_text
from outbox.errors import CommandError
from outbox.participation import ParticipationCommands

if TYPE_CHECKING:
    from outbox.command_base import CommandBase

log = logging.getLogger(__name__)

Intent = Literal["join", "leave"]

# Phrases as normalized words ("'" already turned into a space). Leaving phrases hold their own negation.
JOIN_PHRASES: tuple[tuple[str, ...], ...] = tuple(tuple(p.split()) for p in (
    "je participe", "nous participons", "on participe", "j y vais", "on y va", "je viens", "nous venons",
    "on vient", "j y serai", "je serai la", "inscrit", "inscrite", "inscrits", "inscrites", "inscription",
    "je m inscris",
))
LEAVE_PHRASES: tuple[tuple[str, ...], ...] = tuple(tuple(p.split()) for p in (
    "je ne viens plus", "je ne participe plus", "je n y vais plus", "nous ne venons plus", "on ne vient plus",
    "je ne serai plus la", "desinscription", "desinscrit", "desinscrite", "desinscris", "desinscrire",
    "je me desinscris", "annule ma participation",
))
NEGATIONS_BEFORE = frozenset({"ne", "n", "pas", "plus", "jamais", "non", "point"})
NEGATIONS_AFTER = frozenset({"pas", "plus", "jamais", "point"})
LOOK_BEFORE = 3
LOOK_AFTER = 2
MAX_TEXT = 2000

_NOISE = re.compile(r"https?://\S+|[@#][\w.@-]+", re.UNICODE)
_CLAUSES = re.compile(r"([.!?;,:\n…]+|\bmais\b)")
_WORD = re.compile(r"[a-z0-9]+")


def _plain(text: str) -> str:
    text = _NOISE.sub(" ", text[:MAX_TEXT].lower())
    text = text.replace("’", "'").replace("ʼ", "'").replace("œ", "oe")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _clauses(text: str) -> list[tuple[list[str], bool]]:
    """(words, is a question) for each clause."""
    parts = _CLAUSES.split(_plain(text))
    result: list[tuple[list[str], bool]] = []
    for index in range(0, len(parts), 2):
        separator = parts[index + 1] if index + 1 < len(parts) else ""
        words = _WORD.findall(parts[index])
        if words:
            result.append((words, "?" in separator))
    return result


def _affirmed(words: list[str], phrases: tuple[tuple[str, ...], ...], *, check_negation: bool) -> bool:
    for phrase in phrases:
        size = len(phrase)
        for start in range(len(words) - size + 1):
            if tuple(words[start:start + size]) != phrase:
                continue
            before = words[max(0, start - LOOK_BEFORE):start]
            after = words[start + size:start + size + LOOK_AFTER]
            if not check_negation or not (NEGATIONS_BEFORE & set(before) or NEGATIONS_AFTER & set(after)):
                return True
    return False


def rsvp_intent(text: str) -> Intent | None:
    """"join", "leave" or None for the plain text of a reply."""
    joins = leaves = False
    for words, question in _clauses(text):
        if question:
            continue
        leaves = leaves or _affirmed(words, LEAVE_PHRASES, check_negation=False)
        joins = joins or _affirmed(words, JOIN_PHRASES, check_negation=True)
    return "leave" if leaves else "join" if joins else None


async def _apply(runtime: Runtime, session: AsyncSession, author: Actor, reply: Status, text: str) -> None:
    """Join or leave the event `reply` answers, when it is an event and the text says so."""
    if reply.in_reply_to_id is None or reply.reblog_of_id is not None:
        return
    event = await event_for_status(session, reply.in_reply_to_id)
    if event is None:
        return
    intent = rsvp_intent(text)
    if intent is None:
        return
    event_status = await session.get(Status, event.status_id)
    if event_status is None:
        return
    commands = ParticipationCommands(runtime)
    try:
        if intent == "join":
            await commands.join_in(session, author, event, event_status,
                                   join_uri=None if author.domain is None else reply.uri)
        else:
            await commands.leave_in(session, author, event, event_status)
    except CommandError as exc:
        log.info("RSVP of %s to event %s not applied: %s", author.uri, event.id, exc)


async def record_rsvp(cmd: CommandBase, session: AsyncSession, author: Actor, status: Status) -> None:
    """A local reply being posted (called from outbox.fanout.after_publish, same transaction)."""
    if status.in_reply_to_id is None:
        return
    await _apply(cmd.runtime, session, author, status, status.source_text or html_to_text(status.content))


async def rsvp_from_remote_reply(runtime: Runtime, status_id: int) -> None:
    """A reply from another server, once stored: it may join or leave one of our events."""
    async with runtime.transaction() as session:
        reply = await session.get(Status, status_id)
        if reply is None or reply.local or reply.in_reply_to_id is None:
            return
        parent_is_local = await session.get(Status, reply.in_reply_to_id)
        author = await session.get(Actor, reply.actor_id)
        if parent_is_local is None or not parent_is_local.local or author is None:
            return
        await _apply(runtime, session, author, reply, html_to_text(reply.content))
    runtime.wake("delivery")
