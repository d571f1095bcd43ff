"""Remote HTML is an XSS vector: only the allowlist survives, Mastodon's markup still renders."""

from __future__ import annotations

import pytest

from fediverse.sanitize import LINK_REL, html_to_text, sanitize_html, text_to_html

MASTODON_NOTE = (
    '<p><span class="h-card" translate="no"><a href="https://m.example/@bob" class="u-url mention">'
    "@<span>bob</span></a></span> regarde "
    '<a href="https://m.example/tags/commune" class="mention hashtag" rel="tag">#<span>commune</span></a> '
    '<a href="https://www.example.org/a/very/long/path" target="_blank" rel="nofollow noopener noreferrer">'
    '<span class="invisible">https://www.</span><span class="ellipsis">example.org/a/very/</span>'
    '<span class="invisible">long/path</span></a></p>'
)


@pytest.mark.parametrize(
    ("dirty", "forbidden"),
    [
        ("<script>alert(1)</script><p>ok</p>", ["<script", "alert"]),
        ("<style>body{display:none}</style><p>ok</p>", ["<style", "display"]),
        ('<iframe src="https://evil.example/"></iframe><p>ok</p>', ["<iframe", "evil.example"]),
        ('<img src="x" onerror="alert(1)"><p>ok</p>', ["<img", "onerror", "alert"]),
        ('<p onclick="alert(1)" style="color:red">ok</p>', ["onclick", "style", "alert"]),
        ("<svg><script>alert(1)</script></svg><p>ok</p>", ["<svg", "<script", "alert"]),
        ('<form action="https://evil.example"><input name="x"></form><p>ok</p>', ["<form", "<input"]),
        ("<p>ok</p><!-- <script>alert(1)</script> -->", ["<!--", "alert"]),
        ('<object data="x.swf"></object><embed src="x.swf"><p>ok</p>', ["<object", "<embed", "swf"]),
    ],
)
def test_dangerous_markup_removed(dirty: str, forbidden: list[str]) -> None:
    clean = sanitize_html(dirty)
    assert "<p>ok</p>" in clean
    for fragment in forbidden:
        assert fragment not in clean


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java&#x09;script:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "vbscript:msgbox(1)",
        "/relative/admin",
        "//evil.example/x",
    ],
)
def test_unsafe_hrefs_removed(href: str) -> None:
    clean = sanitize_html(f'<a href="{href}">link</a>')
    assert "href" not in clean
    assert "link</a>" in clean


def test_safe_hrefs_kept_and_links_hardened() -> None:
    clean = sanitize_html('<a href="https://example.org/x?a=1&amp;b=2" rel="me" target="_self">x</a>')
    assert 'href="https://example.org/x?a=1&amp;b=2"' in clean
    assert f'rel="{LINK_REL}"' in clean
    assert 'target="_blank"' in clean
    assert "_self" not in clean and '"me"' not in clean
    assert 'href="mailto:mairie@example.fr"' in sanitize_html('<a href="mailto:mairie@example.fr">m</a>')
    assert 'href="http://example.org/"' in sanitize_html('<a href="http://example.org/">m</a>')


def test_mentions_and_hashtags_keep_their_classes() -> None:
    clean = sanitize_html(MASTODON_NOTE)
    assert '<span class="h-card">' in clean
    assert 'href="https://m.example/@bob" class="u-url mention"' in clean
    assert 'class="mention hashtag"' in clean
    assert '<span class="invisible">https://www.</span>' in clean
    assert '<span class="ellipsis">example.org/a/very/</span>' in clean
    assert "translate" not in clean
    assert 'rel="tag"' not in clean


def test_unknown_classes_dropped() -> None:
    clean = sanitize_html(
        '<p><span class="invisible admin-only">a</span><a class="btn mention" href="https://x">b</a></p>'
    )
    assert '<span class="invisible">a</span>' in clean
    assert 'class="mention"' in clean
    assert "admin-only" not in clean and "btn" not in clean
    assert "class" not in sanitize_html('<span class="modal-backdrop">x</span>')


def test_allowed_structure_kept() -> None:
    dirty = (
        "<h2>Titre</h2><p>a<br>b <strong>s</strong> <b>b</b> <em>e</em> <i>i</i> <u>u</u>"
        " <s>s</s> <del>d</del></p>"
        "<blockquote><p>q</p></blockquote><pre><code>x = 1</code></pre><ul><li>1</li></ul><ol><li>2</li></ol>"
    )
    assert sanitize_html(dirty) == dirty


def test_unknown_tags_unwrapped_not_dropped() -> None:
    assert sanitize_html("<div><marquee>hello</marquee> <font>world</font></div>") == "hello world"


def test_sanitize_empty_and_length_cap() -> None:
    assert sanitize_html(None) == ""
    assert sanitize_html("") == ""
    clean = sanitize_html("<p>" + "a" * 500 + "</p>", max_length=103)
    assert clean == "<p>" + "a" * 100 + "</p>"


def test_html_to_text() -> None:
    text = html_to_text(
        "<p>Bonjour&nbsp;&amp; <b>bienvenue</b></p><p>ligne 1<br>ligne 2</p>"
        "<ul><li>un</li><li>deux</li></ul><script>alert(1)</script><p>  espaces   multiples\n ici </p>"
    )
    assert text == "Bonjour\xa0& bienvenue\n\nligne 1\nligne 2\n\nun\ndeux\n\nespaces multiples ici"


def test_html_to_text_mastodon_note_gives_full_link() -> None:
    assert html_to_text(MASTODON_NOTE) == "@bob regarde #commune https://www.example.org/a/very/long/path"


def test_html_to_text_keeps_pre_and_handles_empty() -> None:
    assert html_to_text("<pre>  a\n    b</pre>") == "a\n    b"
    assert html_to_text("") == ""
    assert html_to_text(None) == ""
    assert html_to_text("&lt;script&gt;") == "<script>"


def test_text_to_html_escapes() -> None:
    assert text_to_html('<script>alert("x")</script> & co') == (
        '<p>&lt;script&gt;alert("x")&lt;/script&gt; &amp; co</p>'
    )


def test_text_to_html_paragraphs_and_line_breaks() -> None:
    assert text_to_html("a\nb\n\n\nc\r\nd\n") == "<p>a<br>b</p><p>c<br>d</p>"
    assert text_to_html("") == ""
    assert text_to_html("   \n\n  ") == ""


def test_text_to_html_autolinks() -> None:
    html = text_to_html("Voir https://example.org/a_(b)?q=1&r=2. Et (http://x.example/y), fin")
    assert html == (
        f'<p>Voir <a href="https://example.org/a_(b)?q=1&amp;r=2" rel="{LINK_REL}" target="_blank">'
        "https://example.org/a_(b)?q=1&amp;r=2</a>. Et "
        f'(<a href="http://x.example/y" rel="{LINK_REL}" target="_blank">http://x.example/y</a>), fin</p>'
    )


def test_text_to_html_does_not_link_other_schemes_or_break_quotes() -> None:
    html = text_to_html('javascript:alert(1) "https://example.org/"onmouseover=x')
    assert "<a" in html
    assert 'href="https://example.org/"' in html
    assert "javascript:alert(1)" in html and 'href="javascript' not in html
    assert "onmouseover=x" in html and " onmouseover" not in html.split("</a>")[0]


def test_text_to_html_output_survives_sanitizer() -> None:
    html = text_to_html("Salut https://example.org/\n\n<b>!</b>")
    assert sanitize_html(html) == html.replace(
        f'rel="{LINK_REL}" target="_blank"', f'target="_blank" rel="{LINK_REL}"'
    )
