"""A person's data archive, laid out like Mastodon's ("Request your archive"), so it can be read back or
moved elsewhere:

- `actor.json`: the ActivityPub actor, as other servers fetch it;
- `outbox.json`: an OrderedCollection of the Create (posts) and Announce (boosts) activities of every
  status, written by the same serializers that federate them;
- `likes.json`, `bookmarks.json`: OrderedCollections of the ids of the statuses liked or bookmarked;
- `following_accounts.csv`, `followers.csv`, `blocked_accounts.csv`, `muted_accounts.csv` and, when
  there are lists, `lists.csv`, in the CSV shapes Mastodon's import reads;
- the files of the account's posts under `media_attachments/`, and `avatar.*` and `header.*`.

It lives in the outbox package because it uses the outbox's serializers (the actors package may not).
The archive is written to a file the caller gives (a temporary file): statuses are read in batches and
streamed into the zip, so a long history never sits in memory at once.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import zipfile
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from actors.serializers import actor_to_as
from fediverse.as2 import CONTEXT, format_datetime
from fediverse.media import LocalMediaStorage, media_storage
from fediverse.models import (
    Actor,
    Attachment,
    Block,
    Bookmark,
    Commune,
    Favourite,
    Follow,
    FollowOptions,
    ListMember,
    Mute,
    Status,
    UserList,
)
from fediverse.runtime import Runtime
from outbox.serializers import create_activity, load_status_parts, status_to_as, wrap

log = logging.getLogger(__name__)
BATCH = 200


@dataclass
class ArchiveSummary:
    """What went into the archive."""

    statuses: int = 0
    media_files: int = 0


def _collection(name: str, total: int) -> tuple[str, str]:
    """The opening and closing text of an OrderedCollection whose items are streamed in between."""
    head = json.dumps({"@context": CONTEXT, "id": name, "type": "OrderedCollection", "totalItems": total},
                      ensure_ascii=False)
    return head[:-1] + ', "orderedItems": [', "]}"


async def _batches(session: AsyncSession, query: Select[Any], key: Any) -> AsyncIterator[list[Any]]:
    """Rows of `query` (whose last column is `key`, a unique id) by ascending `key`, BATCH at a time."""
    after = 0
    while True:
        rows = list((await session.execute(query.add_columns(key).where(key > after).order_by(key)
                                           .limit(BATCH))).all())
        if not rows:
            return
        yield [row[:-1] for row in rows]
        after = rows[-1][-1]


async def _write_collection(session: AsyncSession, archive: zipfile.ZipFile, name: str, query: Select[Any],
                            key: Any, render: Any) -> int:
    """An OrderedCollection of `render(row)` for each row of `query`, in the order of `key`."""
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    head, tail = _collection(name, total)
    written = 0
    with archive.open(name, "w") as entry:
        entry.write(head.encode())
        async for rows in _batches(session, query, key):
            for row in rows:
                item = await render(row)
                entry.write(((", " if written else "") + json.dumps(item, ensure_ascii=False)).encode())
                written += 1
        entry.write(tail.encode())
    return written


def _csv(rows: Iterable[Iterable[Any]], header: list[str] | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


class AccountArchive:
    """Writes the archive of one local account: `await AccountArchive(runtime, actor_id).write(file)`."""

    def __init__(self, runtime: Runtime, actor_id: int) -> None:
        self.runtime = runtime
        self.actor_id = actor_id
        self.domain = runtime.settings.domain

    async def write(self, target: IO[bytes]) -> ArchiveSummary:
        summary = ArchiveSummary()
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            async with self.runtime.sessions() as session:
                actor = await session.get(Actor, self.actor_id)
                if actor is None or actor.domain is not None or actor.deleted_at is not None:
                    raise LookupError("no such local account")
                commune = await session.get(Commune, actor.commune_insee) if actor.commune_insee else None
                archive.writestr("actor.json", json.dumps(actor_to_as(actor, self.runtime.uris, commune),
                                                          ensure_ascii=False, indent=2))
                summary.statuses = await self._outbox(session, archive, actor)
                await self._liked(session, archive)
                await self._relations(session, archive)
                media = await self._media_names(session, actor)
            summary.media_files = await self._copy_media(archive, media)
        return summary

    async def _outbox(self, session: AsyncSession, archive: zipfile.ZipFile, actor: Actor) -> int:
        original = aliased(Status)
        query = (select(Status, original.uri).outerjoin(original, original.id == Status.reblog_of_id)
                 .where(Status.actor_id == actor.id))

        async def render(row: Any) -> dict[str, Any]:
            status, boosted_uri = row
            activity_uri = status.activity_uri or f"{status.uri}/activity"
            if status.reblog_of_id is not None:
                return wrap("Announce", activity_uri, actor.uri, boosted_uri or "", to=json.loads(status.to_json),
                            cc=json.loads(status.cc_json), published=format_datetime(status.published))
            note = status_to_as(status, await load_status_parts(session, status), self.runtime.uris,
                                with_context=False)
            return create_activity(activity_uri, note)

        return await _write_collection(session, archive, "outbox.json", query, Status.id, render)

    async def _liked(self, session: AsyncSession, archive: zipfile.ZipFile) -> None:
        async def render(row: Any) -> str:
            return str(row[0])

        for name, model in (("likes.json", Favourite), ("bookmarks.json", Bookmark)):
            query = (select(Status.uri).select_from(model).join(Status, Status.id == model.status_id)
                     .where(model.actor_id == self.actor_id))
            await _write_collection(session, archive, name, query, model.id, render)

    async def _handles(self, session: AsyncSession, query: Select[Any]) -> list[Any]:
        return [(row[0].handle(self.domain), *row[1:]) for row in (await session.execute(query)).all()]

    async def _relations(self, session: AsyncSession, archive: zipfile.ZipFile) -> None:
        """The CSV files, in the shapes Mastodon exports and imports."""
        me = self.actor_id
        following = await self._handles(session, select(Actor, FollowOptions.show_reblogs, FollowOptions.notify,
                                                        FollowOptions.languages_json)
                                        .join(Follow, Follow.followee_id == Actor.id)
                                        .outerjoin(FollowOptions, (FollowOptions.actor_id == me)
                                                   & (FollowOptions.target_id == Actor.id))
                                        .where(Follow.follower_id == me, Follow.state == "accepted")
                                        .order_by(Follow.id))
        archive.writestr("following_accounts.csv", _csv(
            [(handle, "false" if reblogs is False else "true", "true" if notify else "false",
              ", ".join(json.loads(languages or "[]") or []))
             for handle, reblogs, notify, languages in following],
            ["Account address", "Show boosts", "Notify on new posts", "Languages"]))
        followers = await self._handles(session, select(Actor).join(Follow, Follow.follower_id == Actor.id)
                                        .where(Follow.followee_id == me, Follow.state == "accepted")
                                        .order_by(Follow.id))
        archive.writestr("followers.csv", _csv(followers, ["Account address"]))
        blocked = await self._handles(session, select(Actor).join(Block, Block.target_id == Actor.id)
                                      .where(Block.actor_id == me).order_by(Block.id))
        archive.writestr("blocked_accounts.csv", _csv(blocked))
        muted = await self._handles(session, select(Actor, Mute.notifications).join(Mute, Mute.target_id == Actor.id)
                                    .where(Mute.actor_id == me).order_by(Mute.id))
        archive.writestr("muted_accounts.csv", _csv(
            [(handle, "true" if notifications else "false") for handle, notifications in muted],
            ["Account address", "Hide notifications"]))
        lists = (await session.execute(
            select(UserList.title, Actor).outerjoin(ListMember, ListMember.list_id == UserList.id)
            .outerjoin(Actor, Actor.id == ListMember.actor_id)
            .where(UserList.actor_id == me).order_by(UserList.id, ListMember.id))).all()
        if lists:
            archive.writestr("lists.csv", _csv([(title, member.handle(self.domain) if member else "")
                                                for title, member in lists]))

    async def _media_names(self, session: AsyncSession, actor: Actor) -> list[tuple[str, str]]:
        """(stored name, name in the archive) of the posts' files, the avatar and the header."""
        storage = media_storage(self.runtime.settings)
        names = [(name, f"media_attachments/{name}") for name in (await session.scalars(
            select(Attachment.file_name).join(Status, Status.id == Attachment.status_id)
            .where(Status.actor_id == actor.id, Attachment.file_name.is_not(None)).order_by(Attachment.id))).all()]
        for label, url in (("avatar", actor.icon_url), ("header", actor.image_url)):
            name = storage.name_for_url(url)
            if name:
                names.append((name, label + Path(name).suffix))
        return names

    async def _copy_media(self, archive: zipfile.ZipFile, names: list[tuple[str, str]]) -> int:
        """Copy the stored files in (from disk, off the event loop); a missing file is skipped."""
        storage = media_storage(self.runtime.settings)
        if not isinstance(storage, LocalMediaStorage):  # only local storage exists; others need a read method
            log.warning("media files left out of the archive: %s cannot be read", type(storage).__name__)
            return 0

        def add(path: Path, archived_as: str) -> bool:
            if not path.is_file():
                log.warning("media file %s is missing: left out of the archive", path)
                return False
            # Pictures and videos are compressed already: stored as they are.
            archive.write(path, archived_as, zipfile.ZIP_STORED)
            return True

        copied = 0
        for name, archived_as in names:
            copied += await asyncio.to_thread(add, storage.path(name), archived_as)
        return copied
