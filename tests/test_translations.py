"""French is the default language and every interface string has a French translation."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.pofile import read_po

from fediverse.templating import catalog_files, environment, pick_language, render, translations

ROOT = Path(__file__).resolve().parents[1]


def test_every_extracted_string_has_a_french_translation(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-o", str(pot),
                    "."], cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as handle:
        wanted = {m.id for m in read_po(handle) if m.id}
    french: dict[object, object] = {}
    for po_file in catalog_files("fr"):
        with po_file.open("rb") as handle:
            french.update({m.id: m.string for m in read_po(handle) if m.id and m.id not in french})
    missing = sorted(str(m) for m in wanted if not _translated(french.get(m)))
    assert missing == []


def _translated(string: object) -> bool:
    """A translation, and for a plural message every one of its forms."""
    if isinstance(string, tuple):
        return all(string)
    return bool(string)


def test_dates_and_numbers_are_formatted_for_the_language_in_the_territory_time_zone() -> None:
    when = datetime(2026, 6, 14, 18, 0, tzinfo=UTC)  # 20 h in Paris (summer time)
    french = render_string("fr", "{{ when | date('full') }} {{ when | time }} {{ n | number }}", when=when, n=1234.5)
    english = render_string("en", "{{ when | date('full') }} {{ when | time }} {{ n | number }}", when=when, n=1234.5)
    assert french == "dimanche 14 juin 2026 20:00 1\u202f234,5"
    assert english == "Sunday, June 14, 2026 8:00\u202fPM 1,234.5"


def render_string(language: str, source: str, **context: object) -> str:
    return environment(language).from_string(source).render(**context)


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
