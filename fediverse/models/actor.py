"""Actors (local and remote) and local login accounts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fediverse.db import Base, BigId, UTCDateTime, utcnow
from fediverse.ids import new_id

ACTOR_TYPES = ("Person", "Group", "Organization", "Application", "Service")
# Kind of account -> ActivityStreams actor type (the territory issue documents these kinds).
KIND_TO_TYPE = {
    "resident": "Person",
    "official": "Person",
    "association": "Group",
    "shop": "Organization",
    "collectivity": "Organization",
    "instance": "Application",
    "group": "Group",
}


class Actor(Base):
    """One row per actor we know. Local actors have `domain` NULL and a private key."""

    __tablename__ = "actors"
    __table_args__ = (
        UniqueConstraint("username_lower", "domain_key", name="uq_actors_username_domain"),
        Index("ix_actors_shared_inbox", "shared_inbox_url"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    username: Mapped[str] = mapped_column(String(255))
    username_lower: Mapped[str] = mapped_column(String(255))
    domain: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    # '' for local actors so the unique constraint works on every database.
    domain_key: Mapped[str] = mapped_column(String(255), default="")
    actor_type: Mapped[str] = mapped_column(String(32), default="Person")
    kind: Mapped[str] = mapped_column(String(32), default="resident")
    display_name: Mapped[str] = mapped_column(String(500), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    icon_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    icon_static_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    image_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    image_static_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    inbox_url: Mapped[str] = mapped_column(String(2048), default="")
    shared_inbox_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    outbox_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    followers_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    following_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    featured_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    public_key_id: Mapped[str | None] = mapped_column(String(2048), nullable=True, index=True)
    public_key_pem: Mapped[str | None] = mapped_column(Text, nullable=True)
    private_key_pem: Mapped[str | None] = mapped_column(Text, nullable=True)
    manually_approves_followers: Mapped[bool] = mapped_column(Boolean, default=False)
    discoverable: Mapped[bool] = mapped_column(Boolean, default=True)
    commune_insee: Mapped[str | None] = mapped_column(String(10), nullable=True)
    # Where the account is (remote actors' `location` Place; local ones use their commune's centre).
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    location_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Interest groups (kind "group", FEP-1b12): "public", or "members" when only members see posts.
    group_visibility: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Set by an admin for officials, associations, shops and the collectivity (never self-declared).
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Directory theme of an association or shop: sport, culture, solidarite, jeunesse, environnement, ...
    theme: Mapped[str | None] = mapped_column(String(32), nullable=True)
    moved_to_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    also_known_as: Mapped[str] = mapped_column(Text, default="[]")
    raw: Mapped[str | None] = mapped_column(Text, nullable=True)
    published: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    bot: Mapped[bool] = mapped_column(Boolean, default=False)
    fields_json: Mapped[str] = mapped_column(Text, default="[]")
    source_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    followers_count: Mapped[int] = mapped_column(Integer, default=0)
    following_count: Mapped[int] = mapped_column(Integer, default=0)
    statuses_count: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def is_local(self) -> bool:
        return self.domain is None

    @property
    def inbox_for_delivery(self) -> str:
        return self.shared_inbox_url or self.inbox_url

    def handle(self, local_domain: str) -> str:
        return f"{self.username}@{self.domain or local_domain}"


class User(Base):
    """A person who logs in; acts as one local actor (association teams come later)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), unique=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    role: Mapped[str] = mapped_column(String(32), default="user")
    locale: Mapped[str] = mapped_column(String(16), default="fr")
    approved: Mapped[bool] = mapped_column(Boolean, default=True)
    default_visibility: Mapped[str] = mapped_column(String(16), default="public")
    default_sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    default_language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Neighbourhood ("voisinage"): a radius around the home commune, or an explicit list of INSEE codes.
    neighbourhood_radius_km: Mapped[float | None] = mapped_column(Float, nullable=True)
    neighbourhood_communes_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Web sign-up: the address is proven by a mailed link; accounts made by an admin or the CLI are
    # confirmed at creation. Until confirmed, the user may not sign in.
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    terms_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Why they want to join, shown to moderators when registration needs approval.
    registration_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The invitation used to sign up (no foreign key: invites name their creator, a users row).
    invite_id: Mapped[int | None] = mapped_column(BigId, nullable=True)


class Invite(Base):
    """An invitation link (registration mode `invite`): a code, limited in uses and time."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                           nullable=True)
    max_uses: Mapped[int | None] = mapped_column(Integer, nullable=True)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BrowserSession(Base):
    """A signed-in browser. The session cookie names one row (by the hash of its random key), so the
    user can see where they are signed in and end any of these sessions; a deleted row is a signed-out
    browser at its next click."""

    __tablename__ = "browser_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TeamMember(Base):
    """A user who may act as an association (or any shared account): `admin` manages the team,
    `editor` publishes. This is how a team posts from their own apps without sharing a password."""

    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("actor_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="editor")
    # "invited" until the invited member accepts; only "active" members may act as the account.
    state: Mapped[str] = mapped_column(String(16), default="active")
    invited_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TeamAction(Base):
    """Which team member did what as a shared account (visible to the team, never federated)."""

    __tablename__ = "team_actions"
    __table_args__ = (Index("ix_team_actions_actor", "actor_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    object_uri: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
