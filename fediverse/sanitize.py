"""HTML hygiene for federated content: sanitise what remote servers send, convert our own text.

Remote `content`/`summary`/`name` fields are arbitrary HTML written by whoever controls the
remote server, and we render them inside our pages; anything not explicitly allowed here is a
stored-XSS vector. The allowlist mirrors what Mastodon keeps, so mentions, hashtags and its
shortened links (`invisible`/`ellipsis` spans) still render as users expect.

Three entry points:

* `sanitize_html` - remote HTML to safe HTML (nh3/ammonia allowlist, links forced to
  `rel="nofollow noopener noreferrer" target="_blank"`, absolute http(s)/mailto hrefs only);
* `html_to_text` - HTML to plain text for summaries, search, notifications and e-mails;
* `text_to_html` - a local user's plain text to HTML (escaped, paragraphs, autolinked URLs).
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import nh3

__all__ = [
    "ALLOWED_CLASSES",
    "ALLOWED_TAGS",
    "LINK_REL",
    "html_to_text",
    "sanitize_html",
    "text_to_html",
]

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "a", "span", "strong", "b", "em", "i", "u", "s", "del",
        "blockquote", "code", "pre", "ul", "ol", "li",
        "h1", "h2", "h3", "h4", "h5", "h6",
    }
)  # fmt: skip
# Microformat and Mastodon presentation classes; anything else could hook into our own CSS/JS.
ALLOWED_CLASSES = frozenset(
    {"mention", "hashtag", "u-url", "h-card", "invisible", "ellipsis", "quote-inline"}
)
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener noreferrer"
# Tags removed together with their content: their text is never meant to be read as prose.
_CLEAN_CONTENT_TAGS = frozenset(
    {
        "script",
        "style",
        "iframe",
        "noscript",
        "template",
        "object",
        "embed",
        "svg",
        "math",
        "title",
        "textarea",
    }
)


def _filter_attribute(tag: str, name: str, value: str) -> str | None:
    """Keep only allow-listed classes, dropping the attribute when none is left."""
    if name != "class":
        return value
    kept = [cls for cls in value.split() if cls in ALLOWED_CLASSES]
    return " ".join(dict.fromkeys(kept)) or None


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(_CLEAN_CONTENT_TAGS),
    # No "rel" here: it is forced by link_rel. Classes are filtered by _filter_attribute.
    attributes={
        "a": {"href", "title", "class"},
        "span": {"class"},
        "p": {"class"},
        "ol": {"start", "reversed"},
        "li": {"value"},
    },
    attribute_filter=_filter_attribute,
    set_tag_attribute_values={"a": {"target": "_blank"}},
    link_rel=LINK_REL,
    url_schemes=set(URL_SCHEMES),
    # A relative href in remote content would point at *our* server: never useful, maybe harmful.
    url_relative="deny",
    strip_comments=True,
)


def sanitize_html(html_text: str | None, max_length: int = 100_000) -> str:
    """Safe HTML from untrusted remote HTML; input beyond `max_length` characters is cut first.

    Cutting before parsing bounds the work per object; the HTML parser copes with a tag or
    entity cut in half, so the result is still well-formed.
    """
    if not html_text:
        return ""
    return _CLEANER.clean(html_text[:max_length])


# ---- HTML -> plain text ------------------------------------------------------------------------

# Blocks separated by a blank line, and blocks that only start a new line.
_PARAGRAPH_TAGS = frozenset(
    {"p", "blockquote", "pre", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6", "hr"}
)
_LINE_TAGS = frozenset(
    {"div", "li", "tr", "dd", "dt", "section", "article", "header", "footer", "figure", "figcaption"}
)
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "iframe", "head", "title", "svg", "math"})
_WHITESPACE = re.compile(r"[ \t\r\n\f]+")
_TRAILING_SPACES = re.compile(r"[ \t]+\n")


class _TextExtractor(HTMLParser):
    """Collects text, turning block boundaries into newlines and collapsing HTML whitespace."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        self._pending_newlines = 0
        self._skip_depth = 0
        self._pre_depth = 0

    def _request_break(self, count: int) -> None:
        self._pending_newlines = max(self._pending_newlines, count)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag == "br":
            self._pending_newlines += 1
        elif tag in _PARAGRAPH_TAGS:
            self._request_break(2)
        elif tag in _LINE_TAGS:
            self._request_break(1)
        if tag == "pre":
            self._pre_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _PARAGRAPH_TAGS:
            self._request_break(2)
        elif tag in _LINE_TAGS:
            self._request_break(1)
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <hr/>: a void element has no end tag to balance.
        self.handle_starttag(tag, attrs)
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if not self._pre_depth:
            data = _WHITESPACE.sub(" ", data)
            if self._pending_newlines or not self._parts or self._parts[-1].endswith((" ", "\n")):
                data = data.lstrip(" ")
            if not data:
                return
        if self._pending_newlines:
            if self._parts:
                self._parts.append("\n" * self._pending_newlines)
            self._pending_newlines = 0
        self._parts.append(data)

    def text(self) -> str:
        return _TRAILING_SPACES.sub("\n", "".join(self._parts)).strip()


def html_to_text(html_text: str | None) -> str:
    """Plain text of an HTML fragment: blocks become newlines, entities are unescaped.

    Meant for summaries, search indexing and notifications; the result is text, so it must be
    escaped again before being put back into HTML.
    """
    if not html_text:
        return ""
    parser = _TextExtractor()
    parser.feed(html_text)
    parser.close()
    return parser.text()


# ---- plain text -> HTML ------------------------------------------------------------------------

_URL_RE = re.compile(r"(?<![\w/@.])https?://[^\s<>\"'`\x00-\x1f\x7f]+", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?'\""
_PARAGRAPH_SPLIT = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")


def _trim_url(candidate: str) -> tuple[str, str]:
    """Split trailing punctuation (and unbalanced closing brackets) off an autolinked URL."""
    url = candidate
    while url:
        last = url[-1]
        if last in _TRAILING_PUNCTUATION:
            url = url[:-1]
        elif last == ")" and url.count(")") > url.count("("):
            url = url[:-1]
        elif last == "]" and url.count("]") > url.count("["):
            url = url[:-1]
        else:
            break
    return url, candidate[len(url) :]


def _link(url: str) -> str:
    escaped = html.escape(url, quote=True)
    return f'<a href="{escaped}" rel="{LINK_REL}" target="_blank">{escaped}</a>'


def _linkify_line(line: str) -> str:
    """Escape one line of text, turning http(s) URLs into links."""
    pieces: list[str] = []
    position = 0
    for match in _URL_RE.finditer(line):
        url, trailing = _trim_url(match.group())
        pieces.append(html.escape(line[position : match.start()], quote=False))
        if url.partition("://")[2]:
            pieces.append(_link(url))
        else:
            pieces.append(html.escape(url, quote=False))
        pieces.append(html.escape(trailing, quote=False))
        position = match.end()
    pieces.append(html.escape(line[position:], quote=False))
    return "".join(pieces)


def text_to_html(text: str | None) -> str:
    """HTML for a local plain-text post: escaped, <p> per blank-line block, <br> per newline."""
    if not text:
        return ""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    paragraphs = [block.strip("\n") for block in _PARAGRAPH_SPLIT.split(normalised) if block.strip()]
    return "".join(
        "<p>" + "<br>".join(_linkify_line(line) for line in block.split("\n")) + "</p>"
        for block in paragraphs
    )
