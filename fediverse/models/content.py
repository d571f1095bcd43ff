"""Statuses (every object type we display), their mentions, hashtags and attachments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fediverse.db import Base, BigId, UTCDateTime, utcnow
from fediverse.ids import new_id

VISIBILITIES = ("public", "unlisted", "private", "direct")


class Status(Base):
    """A post of any supported object type, or a boost (reblog_of_id set, no content)."""

    __tablename__ = "statuses"
    __table_args__ = (
        Index("ix_statuses_actor_id_id", "actor_id", "id"),
        Index("ix_statuses_in_reply_to_uri", "in_reply_to_uri"),
        Index("ix_statuses_reblog_of_id", "reblog_of_id"),
        Index("ix_statuses_visibility_id", "visibility", "id"),
        Index("ix_statuses_commune_id", "commune_insee", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    local: Mapped[bool] = mapped_column(Boolean, default=False)
    object_type: Mapped[str] = mapped_column(String(32), default="Note")
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    name: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[str] = mapped_column(Text, default="")
    source_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    in_reply_to_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    in_reply_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("statuses.id", ondelete="SET NULL"), nullable=True
    )
    in_reply_to_actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("actors.id", ondelete="SET NULL"), nullable=True
    )
    conversation_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    reblog_of_id: Mapped[int | None] = mapped_column(ForeignKey("statuses.id", ondelete="CASCADE"), nullable=True)
    # Activity id of the Create/Announce that brought it (so Undo(Announce) finds the boost).
    activity_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True, index=True)
    to_json: Mapped[str] = mapped_column(Text, default="[]")
    cc_json: Mapped[str] = mapped_column(Text, default="[]")
    extra_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    # `location` (one Place, as Mobilizon reads it): the commune it is about and its point.
    commune_insee: Mapped[str | None] = mapped_column(String(10), nullable=True)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    location_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    published: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    replies_count: Mapped[int] = mapped_column(Integer, default=0)
    reblogs_count: Mapped[int] = mapped_column(Integer, default=0)
    favourites_count: Mapped[int] = mapped_column(Integer, default=0)


class Tombstone(Base):
    """Deleted object ids: a Delete that arrives before its Create must not be resurrected."""

    __tablename__ = "tombstones"

    uri: Mapped[str] = mapped_column(String(2048), primary_key=True)
    actor_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Mention(Base):
    __tablename__ = "mentions"
    __table_args__ = (UniqueConstraint("status_id", "actor_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    status_id: Mapped[int] = mapped_column(ForeignKey("statuses.id", ondelete="CASCADE"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)


class StatusTag(Base):
    __tablename__ = "status_tags"
    __table_args__ = (UniqueConstraint("status_id", "name"), Index("ix_status_tags_name_status", "name", "status_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    status_id: Mapped[int] = mapped_column(ForeignKey("statuses.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    status_id: Mapped[int | None] = mapped_column(
        ForeignKey("statuses.id", ondelete="CASCADE"), nullable=True, index=True
    )
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="image")
    media_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    url: Mapped[str] = mapped_column(String(2048))
    remote_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    blurhash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Local uploads: stored file names under the media dir, and Mastodon's meta (sizes, focus).
    file_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    preview_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    preview_file_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    focus_x: Mapped[float | None] = mapped_column(Float, nullable=True)
    focus_y: Mapped[float | None] = mapped_column(Float, nullable=True)
    meta_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
