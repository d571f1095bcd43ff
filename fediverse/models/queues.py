"""Durable queues: incoming activities, outgoing activities, per-inbox deliveries, host health."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fediverse.db import Base, BigId, UTCDateTime, utcnow
from fediverse.ids import new_id


class IncomingActivity(Base):
    """A verified inbox POST, stored before we answer 202 so a crash loses nothing.

    `activity_uri` is unique: the same activity delivered twice (or in parallel) is stored once.
    """

    __tablename__ = "incoming_activities"
    __table_args__ = (Index("ix_incoming_state_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    activity_uri: Mapped[str] = mapped_column(String(2048), unique=True)
    actor_uri: Mapped[str] = mapped_column(String(2048))
    activity_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    # Local actor whose personal inbox received it (NULL for the shared inbox).
    inbox_actor_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OutgoingActivity(Base):
    """An activity a local actor published; the outbox collection reads from here."""

    __tablename__ = "outgoing_activities"
    __table_args__ = (Index("ix_outgoing_actor_id", "actor_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    activity_type: Mapped[str] = mapped_column(String(64))
    object_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True, index=True)
    body: Mapped[str] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """One row per (activity, target inbox): the unit of retry."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_state_due", "state", "next_attempt_at"),
        Index("ix_deliveries_activity_inbox", "activity_id", "inbox_url", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    activity_id: Mapped[int] = mapped_column(ForeignKey("outgoing_activities.id", ondelete="CASCADE"))
    inbox_url: Mapped[str] = mapped_column(String(2048))
    host: Mapped[str] = mapped_column(String(255), index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Host(Base):
    """Federation health per remote host: failures mark it unavailable, a success recovers it."""

    __tablename__ = "hosts"

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    unavailable: Mapped[bool] = mapped_column(Boolean, default=False)
    software: Mapped[str | None] = mapped_column(String(255), nullable=True)
