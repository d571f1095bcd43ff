"""French is the default language and every interface string has a French translation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from fediverse.web.templating import pick_language, render, translations

ROOT = Path(__file__).resolve().parents[1]


def test_every_extracted_string_has_a_french_translation(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-o", str(pot),
                    "."], cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as handle:
        wanted = {m.id for m in read_po(handle) if m.id}
    with (ROOT / "fediverse/locale/fr/LC_MESSAGES/messages.po").open("rb") as handle:
        french = {m.id: m.string for m in read_po(handle) if m.id}
    missing = sorted(m for m in wanted if not french.get(m))
    assert missing == []


def test_pages_render_in_french_by_default_and_in_english_on_request() -> None:
    assert translations("fr").gettext("Page not found") == "Page introuvable"
    assert translations("en").gettext("Page not found") == "Page not found"
    assert "Page introuvable" in render("fr", "not_found.html", settings=_Settings())
    assert "Page not found" in render("en", "not_found.html", settings=_Settings())
    assert pick_language("en-GB,en;q=0.9", "fr") == "en"
    assert pick_language("de-DE", "fr") == "fr"
    assert pick_language(None, "fr") == "fr"


class _Settings:
    instance_name = "Ma commune"
    domain = "ma-commune.test"
