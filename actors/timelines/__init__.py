"""What one local actor reads: timelines, lists, direct conversations, notifications, read markers
and content filters, with Mastodon's visibility rules.

Timelines are queries, not a fan-out table. The viewer's relations (follows, mutes, blocks,
reblog settings, exclusive lists) are read once per request in one round trip and passed to the
page query as bound id lists, so the database never joins the follow graph per row; the page
query then walks `statuses (actor_id, id)` for the followed authors (home, lists) or the primary
key / `(visibility, id)` (public, tags), within a time span next to the cursor that widens until
the page is full. Keyword filters run in Python on the page; when they hide statuses the page is
topped up from the next rows, so a client gets a full page while there is more to read.

One concept a module: `paging`, `relations`, `clauses` (the visibility rules as SQL), `feeds`
(home, public, tag, list), `neighbourhood` (the "voisinage"), `filters` (applying them) and `filter_edits`, `lists`,
`conversations`, `notifications`, `markers`; `errors`. Callers import from here.
"""

from __future__ import annotations

from actors.timelines.clauses import (
    MAX_TAGS_PER_MODE,
    home_clause,
    list_clause,
    normalize_tags,
    public_clause,
    tag_clause,
)
from actors.timelines.conversations import (
    ConversationView,
    conversations_page,
    get_conversation,
    hide_conversation,
    read_conversation,
    sync_conversations,
)
from actors.timelines.errors import Missing, TimelineError
from actors.timelines.feeds import home_timeline, in_home, list_timeline, public_timeline, tag_timeline
from actors.timelines.filter_edits import (
    FILTER_ACTIONS,
    FILTER_CONTEXTS,
    KeywordChange,
    add_filter_status,
    add_keyword,
    delete_filter,
    delete_filter_status,
    delete_keyword,
    get_filter_status,
    get_keyword,
    save_filter,
    update_keyword,
)
from actors.timelines.filters import FilterMatch, FilterRules, FilterSet, filters_of, get_filter, keyword_pattern
from actors.timelines.lists import (
    MAX_LISTS,
    REPLIES_POLICIES,
    add_list_accounts,
    create_list,
    delete_list,
    get_list,
    list_accounts,
    lists_containing,
    lists_of,
    remove_list_accounts,
    update_list,
)
from actors.timelines.markers import MARKER_TIMELINES, get_markers, set_markers
from actors.timelines.neighbourhood import neighbourhood_timeline
from actors.timelines.notifications import (
    NOTIFICATION_TYPES,
    clear_notifications,
    dismiss_notification,
    get_notification,
    notification_query,
    notifications_page,
    unread_notifications,
)
from actors.timelines.paging import Window, paginate
from actors.timelines.relations import RELATIONS, Relations, load_relations

__all__ = [
    "FILTER_ACTIONS", "FILTER_CONTEXTS", "MARKER_TIMELINES", "MAX_LISTS", "MAX_TAGS_PER_MODE", "NOTIFICATION_TYPES",
    "RELATIONS", "REPLIES_POLICIES", "ConversationView", "FilterMatch", "FilterRules", "FilterSet", "KeywordChange",
    "Missing", "Relations", "TimelineError", "Window", "add_filter_status", "add_keyword", "add_list_accounts",
    "clear_notifications", "conversations_page", "create_list", "delete_filter", "delete_filter_status",
    "delete_keyword", "delete_list", "dismiss_notification", "filters_of", "get_conversation", "get_filter",
    "get_filter_status", "get_keyword", "get_list", "get_markers", "get_notification", "hide_conversation",
    "home_clause", "home_timeline", "in_home", "keyword_pattern", "list_accounts", "list_clause", "list_timeline",
    "lists_containing", "lists_of", "neighbourhood_timeline", "normalize_tags", "notification_query",
    "notifications_page", "paginate",
    "public_clause", "public_timeline", "read_conversation", "remove_list_accounts", "save_filter", "set_markers",
    "load_relations", "sync_conversations", "tag_clause", "tag_timeline", "unread_notifications", "update_keyword",
    "update_list",
]
