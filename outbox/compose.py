"""Plain text from a local author -> HTML with links, mentions and hashtags (Mastodon's markup)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from fediverse.uris import Uris

MENTION_RE = (
    r"(?<![\w/@])@(?P<user>[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)"
    r"(?:@(?P<domain>[A-Za-z0-9.-]+\.[A-Za-z]{2,}(?::\d+)?|localhost(?::\d+)?))?"
)
HASHTAG_RE = r"(?<![\w/&#])#(?P<tag>[^\W\d_][\w]{0,99}|\d+[^\W\d][\w]{0,98})"
URL_RE = r"(?P<url>https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]])"
TOKEN_RE = re.compile(f"{URL_RE}|{MENTION_RE}|{HASHTAG_RE}")


@dataclass
class Composed:
    html: str
    mentions: list[str] = field(default_factory=list)  # handles user@domain (domain may be ours)
    tags: list[str] = field(default_factory=list)


def extract(text: str, local_domain: str) -> tuple[list[str], list[str]]:
    """Handles mentioned and hashtags used, in order of first appearance."""
    mentions: list[str] = []
    tags: list[str] = []
    for match in TOKEN_RE.finditer(text):
        if match.group("user"):
            handle = f"{match.group('user')}@{(match.group('domain') or local_domain).lower()}"
            if handle.lower() not in (m.lower() for m in mentions):
                mentions.append(handle)
        elif match.group("tag"):
            tag = match.group("tag")
            if tag.lower() not in (t.lower() for t in tags):
                tags.append(tag)
    return mentions, tags


def render(text: str, uris: Uris, mention_urls: dict[str, str]) -> str:
    """HTML for `text`; `mention_urls` maps lower-case handles to profile URLs (unresolved stay text)."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    rendered = []
    for paragraph in paragraphs:
        out: list[str] = []
        pos = 0
        for match in TOKEN_RE.finditer(paragraph):
            out.append(html.escape(paragraph[pos:match.start()]))
            pos = match.end()
            if match.group("url"):
                url = html.escape(match.group("url"))
                out.append(f'<a href="{url}" rel="nofollow noopener noreferrer" target="_blank">{url}</a>')
            elif match.group("user"):
                handle = f"{match.group('user')}@{(match.group('domain') or uris.settings.domain)}".lower()
                href = mention_urls.get(handle)
                if href:
                    user = html.escape(match.group("user"))
                    out.append(f'<span class="h-card"><a href="{html.escape(href)}" class="u-url mention">'
                               f"@<span>{user}</span></a></span>")
                else:
                    out.append(html.escape(match.group(0)))
            else:
                tag = match.group("tag")
                out.append(f'<a href="{uris.base}/tags/{html.escape(tag.lower())}" class="mention hashtag" '
                           f'rel="tag">#<span>{html.escape(tag)}</span></a>')
        out.append(html.escape(paragraph[pos:]))
        rendered.append("<p>" + "".join(out).replace("\n", "<br>") + "</p>")
    return "".join(rendered)
