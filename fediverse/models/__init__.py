"""All tables; importing this module registers them on `Base.metadata` (Alembic reads it)."""

from fediverse.models.actor import (
    ACTOR_TYPES,
    KIND_TO_TYPE,
    Actor,
    BrowserSession,
    Invite,
    TeamAction,
    TeamMember,
    User,
)
from fediverse.models.agenda import (
    AD_CATEGORIES,
    AD_CLOSED_REASONS,
    AD_PURPOSES,
    AD_STATES,
    EVENT_CATEGORIES,
    EVENT_JOIN_MODES,
    EVENT_STATUSES,
    PARTICIPATION_STATES,
    Ad,
    Event,
    Participation,
)
from fediverse.models.api import (
    AccountNote,
    Announcement,
    AnnouncementRead,
    Bookmark,
    ConversationMute,
    ConversationState,
    Endorsement,
    Filter,
    FilterKeyword,
    FilterStatus,
    FollowOptions,
    IdempotencyKey,
    ListMember,
    Marker,
    Mute,
    OAuthApp,
    OAuthGrant,
    OAuthToken,
    Poll,
    PollVote,
    ScheduledStatus,
    StatusEdit,
    SuggestionDismissal,
    TagFollow,
    UserList,
)
from fediverse.models.content import VISIBILITIES, Attachment, Mention, Status, StatusTag, Tombstone
from fediverse.models.queues import Delivery, Host, IncomingActivity, OutgoingActivity
from fediverse.models.social import Block, Favourite, FeaturedStatus, Follow, Notification, Report
from fediverse.models.territory import NEIGHBOUR_KINDS, TERRITORY_KINDS, Commune, Neighbour, NeighbourCommune, Territory

__all__ = [
    "ACTOR_TYPES", "KIND_TO_TYPE", "VISIBILITIES", "Actor", "Attachment", "Block", "Delivery",
    "Favourite", "FeaturedStatus", "Follow", "Host", "IncomingActivity", "Mention", "Notification",
    "OutgoingActivity", "Report", "Status", "StatusTag", "Tombstone", "User", "TeamMember", "Bookmark",
    "Invite", "BrowserSession",
    "ConversationMute", "ConversationState", "Filter", "FilterKeyword", "FilterStatus", "FollowOptions",
    "IdempotencyKey", "ListMember", "Marker", "Mute", "OAuthApp", "OAuthGrant", "OAuthToken", "Poll", "PollVote",
    "ScheduledStatus", "StatusEdit", "UserList", "AccountNote", "Announcement", "AnnouncementRead", "Endorsement",
    "SuggestionDismissal", "TagFollow", "TeamAction", "TERRITORY_KINDS", "Commune", "Territory",
    "NEIGHBOUR_KINDS", "Neighbour", "NeighbourCommune", "AD_CATEGORIES", "AD_CLOSED_REASONS", "AD_PURPOSES",
    "AD_STATES", "EVENT_CATEGORIES", "EVENT_JOIN_MODES", "EVENT_STATUSES", "PARTICIPATION_STATES", "Ad", "Event",
    "Participation",
]
