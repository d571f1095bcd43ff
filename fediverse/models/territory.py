"""The territory an instance serves: one row naming it, and the communes it covers.

An instance is a "réseau social de proximité": it serves one commune or the communes of an
intercommunality. Communes are keyed by their INSEE code (stable, unlike names and postal codes)
and carry a centre point so later features (neighbourhood radius) can compute distances.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fediverse.db import Base, BigId, UTCDateTime, utcnow
from fediverse.ids import new_id

TERRITORY_KINDS = ("commune", "intercommunality")
NEIGHBOUR_KINDS = ("instance", "relay")


class Territory(Base):
    """Single row (id 1): the instance's territory name and kind."""

    __tablename__ = "territory"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False, default=1)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32), default="intercommunality")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Commune(Base):
    """A commune of the territory; `postal_codes` is a space-separated list (some communes have several)."""

    __tablename__ = "communes"

    insee: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    postal_codes: Mapped[str] = mapped_column(Text, default="")
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def postal_code_list(self) -> list[str]:
        return self.postal_codes.split()


class Neighbour(Base):
    """A neighbouring territory instance (or a relay) and the consent in each direction.

    `outgoing_state`: our instance actor's Follow of theirs (none, requested, accepted, rejected).
    `incoming_state`: their Follow of ours (none, pending until our admin answers, accepted, rejected).
    Both accepted = neighbours: each instance actor Announces its territory's public content to the other.
    A relay (`kind` relay) followed us with a Follow of Public; once accepted it gets the same Announces.
    """

    __tablename__ = "neighbours"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="instance")
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    outgoing_state: Mapped[str] = mapped_column(String(16), default="none")
    outgoing_follow_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    incoming_state: Mapped[str] = mapped_column(String(16), default="none")
    incoming_follow_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    territory_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class NeighbourCommune(Base):
    """A commune served by a neighbour instance, read from its instance actor's territory Places, so a
    resident's radius and commune list can include communes across the border of our territory."""

    __tablename__ = "neighbour_communes"
    __table_args__ = (UniqueConstraint("neighbour_id", "insee"), Index("ix_neighbour_communes_insee", "insee"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    neighbour_id: Mapped[int] = mapped_column(ForeignKey("neighbours.id", ondelete="CASCADE"))
    insee: Mapped[str] = mapped_column(String(5))
    name: Mapped[str] = mapped_column(String(255))
    postal_codes: Mapped[str] = mapped_column(Text, default="")
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
