"""Jinja2 over the top-level templates/ folder, with gettext from Babel catalogs.

Catalogs are read from the .po files (fediverse/locale/<lang>/LC_MESSAGES/messages.po) and
compiled in memory at first use, so no binary .mo file is committed or built at install time.
French is the default language; msgids are English.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
LANGUAGES = ("fr", "en")


@lru_cache(maxsize=8)
def translations(language: str) -> NullTranslations:
    po_file = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po_file.exists():
        return NullTranslations()
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


@lru_cache(maxsize=8)
def environment(language: str) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html", "xml"]),
                      extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals["lang"] = language
    return env


def pick_language(accept_language: str | None, default: str) -> str:
    """The first supported language of an Accept-Language header, else the instance default."""
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return default if default in LANGUAGES else "fr"


def render(language: str, template: str, **context: object) -> str:
    return environment(language).get_template(template).render(**context)
