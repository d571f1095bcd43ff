"""Jinja2 over the top-level templates/ folder, with gettext (Babel catalogs, French by default)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"


@lru_cache(maxsize=8)
def environment(language: str) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html", "xml"]),
                      extensions=["jinja2.ext.i18n"])
    translations: NullTranslations = Translations.load(str(LOCALE_DIR), [language], domain="messages")
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.globals["lang"] = language
    return env


def render(language: str, template: str, **context: object) -> str:
    return environment(language).get_template(template).render(**context)
