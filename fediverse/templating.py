"""Jinja2 over the top-level templates/ folder, with gettext from Babel catalogs: the website, the
OAuth pages and the mails all render through it (a kernel module, so the domain never imports an edge).

Catalogs are read from the .po files (fediverse/locale/<lang>/LC_MESSAGES/*.po: messages.po plus
one file per area of the site, merged into one catalog) and compiled in memory at first use, so no
binary .mo file is committed or built at install time. French is the default language; msgids are
English. Dates, times and numbers are formatted for the page's language by Babel (filters below),
in the territory's time zone.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("fr", "en")


def catalog_files(language: str) -> list[Path]:
    """messages.po first, then the areas' files in name order (a msgid in two files: the first wins)."""
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    files = sorted(folder.glob("*.po"), key=lambda path: (path.name != "messages.po", path.name))
    return files


def _compiled(po_file: Path, language: str) -> Translations:
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


@lru_cache(maxsize=8)
def translations(language: str) -> NullTranslations:
    files = catalog_files(language)
    if not files:
        return NullTranslations()
    merged = _compiled(files[-1], language)
    for po_file in reversed(files[:-1]):  # earlier files override later ones
        merged.merge(_compiled(po_file, language))
    return merged


TIME_ZONE = "Europe/Paris"


def _formatters(language: str) -> dict[str, Callable[..., str]]:
    """Jinja filters: `{{ event.start | datetime }}`, `{{ when | date('full') }}`, `{{ n | number }}`.
    Naive datetimes are UTC (as stored); they are shown in the territory's time zone."""
    zone = ZoneInfo(TIME_ZONE)

    def aware(value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def format_datetime(value: datetime | None, format: str = "medium", zone_name: str | None = None) -> str:
        if value is None:
            return ""
        return dates.format_datetime(aware(value), format, tzinfo=ZoneInfo(zone_name) if zone_name else zone,
                                     locale=language)

    def format_date(value: datetime | date | None, format: str = "medium") -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = aware(value).astimezone(zone).date()
        return dates.format_date(value, format, locale=language)

    def format_time(value: datetime | None, format: str = "short") -> str:
        if value is None:
            return ""
        return dates.format_time(aware(value), format, tzinfo=zone, locale=language)

    def format_number(value: float | int | None) -> str:
        return "" if value is None else numbers.format_decimal(value, locale=language)

    return {"datetime": format_datetime, "date": format_date, "time": format_time, "number": format_number}


@lru_cache(maxsize=8)
def environment(language: str) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html", "xml"]),
                      extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(_formatters(language))
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
