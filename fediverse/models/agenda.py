"""Petites annonces (ads) and the agenda (events): each is a Status (the federated object) plus the
structured fields that lists, filters, feeds and other servers need.

An ad is a `Note` status (Mastodon shows it whole) with its FEP-0837 fields here; an event is an
`Event` status (Mobilizon's shape) with its schedule, place and participation rules here. Remote ads
and events (neighbours, Mobilizon, Gancio, FEP-0837 servers) get the same rows, with `local` false.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fediverse.db import Base, BigId, UTCDateTime, utcnow
from fediverse.ids import new_id

AD_CATEGORIES = ("bon_plan", "pret", "don", "vente", "service", "covoiturage", "emploi", "logement", "recherche")
AD_PURPOSES = ("offer", "request")
AD_STATES = ("open", "closed")
AD_CLOSED_REASONS = ("donne", "trouve", "pourvu")
# Mobilizon's categories (lib/mobilizon/events/categories.ex), uppercase on the wire.
EVENT_CATEGORIES = (
    "ARTS", "BOOK_CLUBS", "BUSINESS", "CAUSES", "COMEDY", "CRAFTS", "FOOD_DRINK", "HEALTH", "MUSIC",
    "AUTO_BOAT_AIR", "COMMUNITY", "FAMILY_EDUCATION", "FASHION_BEAUTY", "FILM_MEDIA", "GAMES", "LANGUAGE_CULTURE",
    "LEARNING", "LGBTQ", "MOVEMENTS_POLITICS", "NETWORKING", "PARTY", "PERFORMING_VISUAL_ARTS", "PETS",
    "PHOTOGRAPHY", "OUTDOORS_ADVENTURE", "SPIRITUALITY_RELIGION_BELIEFS", "SCIENCE_TECH", "SPORTS", "THEATRE",
    "MEETING",
)
EVENT_JOIN_MODES = ("free", "restricted", "external", "invite")
EVENT_STATUSES = ("CONFIRMED", "TENTATIVE", "CANCELLED")
PARTICIPATION_STATES = ("pending", "accepted", "rejected")


class Ad(Base):
    """A petite annonce: the fields of its Note status that filters and FEP-0837 need."""

    __tablename__ = "ads"
    __table_args__ = (
        Index("ix_ads_state_expires", "state", "expires_at"),
        Index("ix_ads_state_id", "state", "id"),  # the newest open ads first (home page, list)
        Index("ix_ads_category_id", "category", "id"),
        Index("ix_ads_commune_id", "commune_insee", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    status_id: Mapped[int] = mapped_column(ForeignKey("statuses.id", ondelete="CASCADE"), unique=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    local: Mapped[bool] = mapped_column(Boolean, default=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(16), default="offer")
    # Price in cents (None: no price given); `free` for "gratuit" (a don or a free loan).
    price_cents: Mapped[int | None] = mapped_column(Integer, nullable=True)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    free: Mapped[bool] = mapped_column(Boolean, default=False)
    commune_insee: Mapped[str | None] = mapped_column(String(10), nullable=True)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="open")
    closed_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Set when the expiry job has hidden it and told followers (Update) — done once.
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Event(Base):
    """An event of the agenda: schedule, place and participation rules of its Event status."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_starts_at", "starts_at"),
        Index("ix_events_ends_at", "ends_at"),
        Index("ix_events_commune_starts", "commune_insee", "starts_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    status_id: Mapped[int] = mapped_column(ForeignKey("statuses.id", ondelete="CASCADE"), unique=True)
    # The organiser (a person or the account acting for an association) ...
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    # ... and the association/group it is attributed to, when there is one (Mobilizon's attributedTo).
    attributed_to_id: Mapped[int | None] = mapped_column(ForeignKey("actors.id", ondelete="SET NULL"),
                                                         nullable=True, index=True)
    local: Mapped[bool] = mapped_column(Boolean, default=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    place_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    street: Mapped[str | None] = mapped_column(String(255), nullable=True)
    postal_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    locality: Mapped[str | None] = mapped_column(String(255), nullable=True)
    commune_insee: Mapped[str | None] = mapped_column(String(10), nullable=True)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    category: Mapped[str] = mapped_column(String(40), default="MEETING")
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    join_mode: Mapped[str] = mapped_column(String(16), default="free")
    external_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    online_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    event_status: Mapped[str] = mapped_column(String(16), default="CONFIRMED")
    # Accepted participants (local and remote); for remote events, the origin's figure.
    participant_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Participation(Base):
    """Someone (local or remote) taking part in an event: Mobilizon's Join, answered by Accept/Reject."""

    __tablename__ = "participations"
    __table_args__ = (UniqueConstraint("event_id", "actor_id"), Index("ix_participations_event_state",
                                                                     "event_id", "state"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    # The Join activity's id (ours or the participant's server's), answered by Accept/Reject.
    join_uri: Mapped[str] = mapped_column(String(2048), unique=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
