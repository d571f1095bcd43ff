"""OAuth scopes as Mastodon defines them: top-level scopes cover their granular children."""

from __future__ import annotations

TOP_LEVEL = ("read", "write", "follow", "push", "profile", "admin:read", "admin:write")
GRANULAR = {
    "read": ("accounts", "blocks", "bookmarks", "favourites", "filters", "follows", "lists", "mutes",
             "notifications", "search", "statuses"),
    "write": ("accounts", "blocks", "bookmarks", "conversations", "favourites", "filters", "follows", "lists",
              "media", "mutes", "notifications", "reports", "statuses"),
    "admin:read": ("accounts", "reports", "domain_allows", "domain_blocks", "ip_blocks", "email_domain_blocks",
                   "canonical_email_blocks"),
    "admin:write": ("accounts", "reports", "domain_allows", "domain_blocks", "ip_blocks", "email_domain_blocks",
                    "canonical_email_blocks"),
}
# The legacy `follow` scope grants these (Mastodon keeps it for old apps).
FOLLOW_COVERS = frozenset({"read:blocks", "write:blocks", "read:follows", "write:follows", "read:mutes",
                           "write:mutes"})
ALL_SCOPES = frozenset(TOP_LEVEL) | frozenset(f"{top}:{sub}" for top, subs in GRANULAR.items() for sub in subs)


def parse_scopes(value: str | None, default: str = "read") -> list[str]:
    """Scopes from a space- or plus-separated string; unknown ones raise ValueError."""
    text = (value or default).replace("+", " ").replace(",", " ")
    scopes = list(dict.fromkeys(s for s in text.split() if s))
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]}")
    return scopes


def allows(granted: frozenset[str] | set[str], required: str) -> bool:
    """True when the granted scopes include `required` (or a scope that covers it)."""
    if required in granted:
        return True
    if ":" in required:
        top, _, _rest = required.rpartition(":")
        if top in granted:
            return True
        if required in FOLLOW_COVERS and "follow" in granted:
            return True
    if required == "profile" and ("read" in granted or "read:accounts" in granted):
        return True
    return False


def subset(requested: list[str], allowed: list[str]) -> bool:
    """Every requested scope is allowed by the app's registered scopes."""
    granted = set(allowed)
    return all(allows(granted, scope) for scope in requested)
