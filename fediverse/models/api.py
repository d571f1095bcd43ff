"""Client-API state: OAuth applications, grants and tokens, plus per-user client features
(bookmarks, mutes, lists, markers, filters, idempotency keys, edit history, poll votes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fediverse.db import Base, BigId, UTCDateTime, utcnow
from fediverse.ids import new_id


class OAuthApp(Base):
    __tablename__ = "oauth_apps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    website: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str] = mapped_column(String(128))
    redirect_uris: Mapped[str] = mapped_column(Text, default="urn:ietf:wg:oauth:2.0:oob")
    scopes: Mapped[str] = mapped_column(String(1000), default="read")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OAuthGrant(Base):
    """An authorization code (single use, short-lived), bound to the PKCE challenge if any."""

    __tablename__ = "oauth_grants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    code_hash: Mapped[str] = mapped_column(String(128), unique=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("oauth_apps.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    scopes: Mapped[str] = mapped_column(String(1000))
    code_challenge: Mapped[str | None] = mapped_column(String(128), nullable=True)
    code_challenge_method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OAuthToken(Base):
    """Access token (stored hashed). `actor_id` is the identity the app acts as: the user's own
    actor, or an association the user manages (chosen on the consent page)."""

    __tablename__ = "oauth_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    app_id: Mapped[int | None] = mapped_column(ForeignKey("oauth_apps.id", ondelete="CASCADE"), nullable=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), nullable=True)
    scopes: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Bookmark(Base):
    __tablename__ = "bookmarks"
    __table_args__ = (UniqueConstraint("actor_id", "status_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    status_id: Mapped[int] = mapped_column(ForeignKey("statuses.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Mute(Base):
    __tablename__ = "mutes"
    __table_args__ = (UniqueConstraint("actor_id", "target_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    notifications: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConversationMute(Base):
    __tablename__ = "conversation_mutes"
    __table_args__ = (UniqueConstraint("actor_id", "conversation_uri"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    conversation_uri: Mapped[str] = mapped_column(String(2048))


class FollowOptions(Base):
    """Per-follow client options (Mastodon's `reblogs`, `notify`, `languages`)."""

    __tablename__ = "follow_options"
    __table_args__ = (UniqueConstraint("actor_id", "target_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    show_reblogs: Mapped[bool] = mapped_column(Boolean, default=True)
    notify: Mapped[bool] = mapped_column(Boolean, default=False)
    languages_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class UserList(Base):
    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(255))
    replies_policy: Mapped[str] = mapped_column(String(16), default="list")
    exclusive: Mapped[bool] = mapped_column(Boolean, default=False)


class ListMember(Base):
    __tablename__ = "list_members"
    __table_args__ = (UniqueConstraint("list_id", "actor_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))


class Marker(Base):
    __tablename__ = "markers"
    __table_args__ = (UniqueConstraint("actor_id", "timeline"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    timeline: Mapped[str] = mapped_column(String(32))
    last_read_id: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Filter(Base):
    __tablename__ = "filters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(255))
    context_json: Mapped[str] = mapped_column(String(255), default='["home"]')
    action: Mapped[str] = mapped_column(String(16), default="warn")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class FilterKeyword(Base):
    __tablename__ = "filter_keywords"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    filter_id: Mapped[int] = mapped_column(ForeignKey("filters.id", ondelete="CASCADE"), index=True)
    keyword: Mapped[str] = mapped_column(String(255))
    whole_word: Mapped[bool] = mapped_column(Boolean, default=True)


class FilterStatus(Base):
    __tablename__ = "filter_statuses"
    __table_args__ = (UniqueConstraint("filter_id", "status_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    filter_id: Mapped[int] = mapped_column(ForeignKey("filters.id", ondelete="CASCADE"))
    status_id: Mapped[int] = mapped_column(ForeignKey("statuses.id", ondelete="CASCADE"))


class IdempotencyKey(Base):
    """`Idempotency-Key` of a status creation: the same key within a day returns the same status."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("actor_id", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    status_id: Mapped[int | None] = mapped_column(ForeignKey("statuses.id", ondelete="CASCADE"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StatusEdit(Base):
    """A previous version of a status (Mastodon's edit history)."""

    __tablename__ = "status_edits"
    __table_args__ = (Index("ix_status_edits_status", "status_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    status_id: Mapped[int] = mapped_column(ForeignKey("statuses.id", ondelete="CASCADE"))
    content: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    poll_options_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    media_ids_json: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PollVote(Base):
    __tablename__ = "poll_votes"
    __table_args__ = (UniqueConstraint("status_id", "actor_id", "choice"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    status_id: Mapped[int] = mapped_column(ForeignKey("statuses.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    choice: Mapped[int] = mapped_column(Integer)
    uri: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConversationState(Base):
    """Per-participant state of a direct-message conversation (unread, hidden)."""

    __tablename__ = "conversation_states"
    __table_args__ = (UniqueConstraint("actor_id", "conversation_uri"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    conversation_uri: Mapped[str] = mapped_column(String(2048))
    last_status_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    unread: Mapped[bool] = mapped_column(Boolean, default=True)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)


class Poll(Base):
    """The poll of a status (local, or a remote `Question`); `options_json` holds titles and counts."""

    __tablename__ = "polls"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    status_id: Mapped[int] = mapped_column(ForeignKey("statuses.id", ondelete="CASCADE"), unique=True)
    options_json: Mapped[str] = mapped_column(Text)
    multiple: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    voters_count: Mapped[int] = mapped_column(Integer, default=0)
    votes_count: Mapped[int] = mapped_column(Integer, default=0)
    hide_totals: Mapped[bool] = mapped_column(Boolean, default=False)


class ScheduledStatus(Base):
    __tablename__ = "scheduled_statuses"
    __table_args__ = (Index("ix_scheduled_statuses_due", "scheduled_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    params_json: Mapped[str] = mapped_column(Text)
    media_ids_json: Mapped[str] = mapped_column(Text, default="[]")


class AccountNote(Base):
    """A private note a user keeps about another account (Mastodon's relationship `note`)."""

    __tablename__ = "account_notes"
    __table_args__ = (UniqueConstraint("actor_id", "target_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    comment: Mapped[str] = mapped_column(Text, default="")


class Endorsement(Base):
    """An account featured on the user's profile (Mastodon's endorsements / "pin account")."""

    __tablename__ = "endorsements"
    __table_args__ = (UniqueConstraint("actor_id", "target_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Announcement(Base):
    """An institutional announcement of the collectivity, shown by apps above the home timeline."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("actors.id", ondelete="SET NULL"), nullable=True)
    # The public status that carries it to followers and neighbours (deleted with it).
    status_id: Mapped[int | None] = mapped_column(ForeignKey("statuses.id", ondelete="CASCADE"), nullable=True,
                                                  index=True)
    # jeunesse, emploi, logement, travaux, alerte, ... (see actors.announcements.THEMES)
    theme: Mapped[str | None] = mapped_column(String(32), nullable=True)
    content: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text, default="")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AnnouncementRead(Base):
    __tablename__ = "announcement_reads"
    __table_args__ = (UniqueConstraint("actor_id", "announcement_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id", ondelete="CASCADE"))


class SuggestionDismissal(Base):
    __tablename__ = "suggestion_dismissals"
    __table_args__ = (UniqueConstraint("actor_id", "target_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TagFollow(Base):
    """A hashtag a user follows: its public posts join the user's home timeline."""

    __tablename__ = "tag_follows"
    __table_args__ = (UniqueConstraint("actor_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, default=new_id)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
