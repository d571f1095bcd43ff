"""The only place local URIs are built and parsed, so every layer agrees on them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from fediverse.config import Settings

USERNAME_RE = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?$")
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
PUBLIC_ALIASES = frozenset({PUBLIC, "as:Public", "Public"})
INSTANCE_ACTOR_PATH = "/actor"


@dataclass(frozen=True)
class Uris:
    """URI builder bound to one instance's settings (several instances may share a process)."""

    settings: Settings

    @property
    def base(self) -> str:
        return self.settings.base_url

    def actor(self, username: str) -> str:
        return f"{self.base}/users/{username}"

    def instance_actor(self) -> str:
        return f"{self.base}{INSTANCE_ACTOR_PATH}"

    def key_id(self, actor_uri: str) -> str:
        return f"{actor_uri}#main-key"

    def inbox(self, username: str) -> str:
        return f"{self.actor(username)}/inbox"

    def shared_inbox(self) -> str:
        return f"{self.base}/inbox"

    def outbox(self, username: str) -> str:
        return f"{self.actor(username)}/outbox"

    def followers(self, username: str) -> str:
        return f"{self.actor(username)}/followers"

    def following(self, username: str) -> str:
        return f"{self.actor(username)}/following"

    def featured(self, username: str) -> str:
        return f"{self.actor(username)}/collections/featured"

    def profile_page(self, username: str) -> str:
        return f"{self.base}/@{username}"

    def status(self, username: str, status_id: int) -> str:
        return f"{self.actor(username)}/statuses/{status_id}"

    def status_page(self, username: str, status_id: int) -> str:
        return f"{self.base}/@{username}/{status_id}"

    def activity(self, username: str, activity_id: int) -> str:
        return f"{self.actor(username)}/activities/{activity_id}"

    def is_local(self, uri: str | None) -> bool:
        """True when a URI claims our host (by host, not by string prefix: look-alikes are not ours)."""
        if not uri:
            return False
        try:
            netloc = urlsplit(uri).netloc.lower()
        except ValueError:
            return False
        return netloc.rstrip(".") == self.settings.domain

    def parse_status(self, uri: str) -> int | None:
        """Status id of one of our status URIs, or None."""
        if not self.is_local(uri):
            return None
        match = re.fullmatch(r"/users/[^/]+/statuses/(\d{1,20})", urlsplit(uri).path)
        return int(match.group(1)) if match else None

    def parse_actor(self, uri: str) -> str | None:
        """Username of one of our actor URIs, or None (the instance actor has its own path)."""
        if not self.is_local(uri):
            return None
        path = urlsplit(uri).path
        if path == INSTANCE_ACTOR_PATH:
            return self.settings.domain
        match = re.fullmatch(r"/users/([^/]+)", path)
        return match.group(1) if match else None


def host_of(uri: str) -> str:
    """Lower-cased netloc (host[:port]) of a URI, '' when it does not parse."""
    try:
        return urlsplit(uri).netloc.lower().rstrip(".")
    except ValueError:
        return ""
