"""Mastodon's filter entities: Filter (v2) with its FilterKeyword and FilterStatus, the FilterResult
attached to a status, and the v1 Filter (one keyword of a v2 filter)."""

from __future__ import annotations

from typing import Any

from actors.timelines import FilterMatch, FilterRules
from fediverse.api.serializers.accounts import iso
from fediverse.models import Filter, FilterKeyword, FilterStatus


def keyword_to_api(row: FilterKeyword) -> dict[str, Any]:
    return {"id": str(row.id), "keyword": row.keyword, "whole_word": row.whole_word}


def filter_status_to_api(row: FilterStatus) -> dict[str, Any]:
    return {"id": str(row.id), "status_id": str(row.status_id)}


def filter_to_api(rules: FilterRules, *, with_rules: bool = True) -> dict[str, Any]:
    """Mastodon's Filter (v2); inside a FilterResult it comes without keywords and statuses."""
    doc: dict[str, Any] = {
        "id": str(rules.row.id),
        "title": rules.row.title,
        "context": rules.context,
        "expires_at": iso(rules.row.expires_at),
        "filter_action": rules.row.action,
    }
    if with_rules:
        doc["keywords"] = [keyword_to_api(k) for k in rules.keywords]
        doc["statuses"] = [filter_status_to_api(s) for s in rules.statuses]
    return doc


def filter_result_to_api(match: FilterMatch) -> dict[str, Any]:
    return {"filter": filter_to_api(match.rules, with_rules=False), "keyword_matches": match.keyword_matches,
            "status_matches": match.status_matches}


def legacy_filter_to_api(keyword: FilterKeyword, owner: Filter, context: list[str]) -> dict[str, Any]:
    """A v1 Filter is one keyword of a v2 filter; `irreversible` means the `hide` action."""
    return {"id": str(keyword.id), "phrase": keyword.keyword, "context": context, "whole_word": keyword.whole_word,
            "expires_at": iso(owner.expires_at), "irreversible": owner.action == "hide"}
