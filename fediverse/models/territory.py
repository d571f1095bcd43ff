"""The territory an instance serves: one row naming it, and the communes it covers.

An instance is a "réseau social de proximité": it serves one commune or the communes of an
intercommunality. Communes are keyed by their INSEE code (stable, unlike names and postal codes)
and carry a centre point so later features (neighbourhood radius) can compute distances.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fediverse.db import Base, UTCDateTime, utcnow

TERRITORY_KINDS = ("commune", "intercommunality")


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
