"""Petites annonces on the wire: FEP-0837 terms, category hashtags, prices and visible state marks.

Pure functions shared by the outbox (writing a local ad's `Note`) and the inbox (recognising a
remote one), so both sides speak exactly the same vocabulary:

* each category is a hashtag (`#Don`, `#Covoiturage`...) next to `#PetiteAnnonce`, and maps to a
  Valueflows action: `deliverService` for services, car sharing and jobs, `transfer` for the rest;
* a price is a `reciprocal` Intent (`hasUnit` the ISO 4217 code, `hasNumericalValue` a decimal
  string), read back defensively (strings, numbers, junk);
* a closed or expired ad keeps its Note but its first line starts with a mark (`[Donné]`...), the
  only state signal Mastodon readers see, and the one we read back from our neighbours.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fediverse.as2 import first, format_datetime, parse_datetime, text_of, type_of
from fediverse.db import utcnow
from fediverse.models.agenda import AD_CATEGORIES, AD_CLOSED_REASONS, AD_PURPOSES

MAX_TITLE = 200
DEFAULT_EXPIRY = timedelta(days=30)
MAX_EXPIRY = timedelta(days=90)
# Remote servers may choose longer lives than ours; beyond a year the date is treated as absurd.
MAX_REMOTE_EXPIRY = timedelta(days=365)
MAX_PRICE_CENTS = 100_000_000  # one million euros: anything above is a typo or junk
AD_HASHTAG = "PetiteAnnonce"
# Hashtags that ask for an ad from a Mastodon app (besides #PetiteAnnonce itself).
TRIGGER_TAGS = frozenset({"petiteannonce", "annonce", "annonces", "petitesannonces"})
# Category -> the hashtag as written on the wire (lower-cased, it is the StatusTag name).
CATEGORY_TAGS: dict[str, str] = {
    "bon_plan": "BonPlan", "pret": "Pret", "don": "Don", "vente": "Vente", "service": "Service",
    "covoiturage": "Covoiturage", "emploi": "Emploi", "logement": "Logement", "recherche": "Recherche",
}
# Spellings residents type, folded (accents removed, lower case) -> category.
_TAG_CATEGORIES: dict[str, str] = {
    **{tag.lower(): category for category, tag in CATEGORY_TAGS.items()},
    "bonsplans": "bon_plan", "bon_plan": "bon_plan", "prets": "pret", "dons": "don", "ventes": "vente",
    "services": "service", "emplois": "emploi", "logements": "logement", "recherches": "recherche",
}
REQUEST_TAGS = frozenset({"demande", "demandes", "recherche", "recherches", "cherche"})
SERVICE_CATEGORIES = frozenset({"service", "covoiturage", "emploi"})
FREE_CATEGORIES = frozenset({"don"})
CLOSED_MARKS = {"donne": "Donné", "trouve": "Trouvé", "pourvu": "Pourvu"}
EXPIRED_MARK = "Expirée"
_MARK_RE = re.compile(r"^\s*\[(Donné|Trouvé|Pourvu|Expirée)\]\s*", re.IGNORECASE)
_PRICE_RE = re.compile(r"^\d{1,9}(?:[.,]\d{1,2})?$")
_TEXT_PRICE_RE = re.compile(r"(?<![\d.,])(\d{1,6}(?:[.,]\d{1,2})?)\s?(?:€|eur\b|euros?\b)", re.IGNORECASE)
_FREE_RE = re.compile(r"\bgratuit(?:e|s|es)?\b", re.IGNORECASE)
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
EURO_CONFORMS_TO = "https://www.wikidata.org/wiki/Q4916"

# JSON-LD terms of FEP-0837 (Valueflows and the units ontology), for the documents that carry them.
VALUEFLOWS_TERMS: dict[str, Any] = {
    "vf": "https://w3id.org/valueflows/ont/vf#",
    "om2": "http://www.ontology-of-units-of-measure.org/resource/om-2/",
    "Proposal": "vf:Proposal",
    "Intent": "vf:Intent",
    "purpose": "vf:purpose",
    "publishes": "vf:publishes",
    "reciprocal": "vf:reciprocal",
    "action": "vf:action",
    "resourceConformsTo": {"@id": "vf:resourceConformsTo", "@type": "@id"},
    "resourceQuantity": "vf:resourceQuantity",
    "unitBased": "vf:unitBased",
    "hasUnit": "om2:hasUnit",
    "hasNumericalValue": "om2:hasNumericalValue",
}


class AdInputError(ValueError):
    """A value a resident typed that cannot be an ad field; the message says which and why."""


def fold(text: str) -> str:
    """Lower case without accents: `#Prêt`, `#pret` and `#PRET` are the same category."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def action_of(category: str) -> str:
    return "deliverService" if category in SERVICE_CATEGORIES else "transfer"


def category_tag(category: str) -> str:
    return CATEGORY_TAGS.get(category, "PetiteAnnonce")


def category_from_tags(tags: list[str]) -> str | None:
    """The first category hashtag among `tags` (names without '#'); `#recherche` only counts as the
    category when no other category is named (`#covoiturage #recherche` is a car-share request)."""
    found = [_TAG_CATEGORIES[fold(t)] for t in tags if fold(t) in _TAG_CATEGORIES]
    others = [c for c in found if c != "recherche"]
    return others[0] if others else (found[0] if found else None)


def purpose_from_tags(tags: list[str], category: str | None) -> str:
    if category == "recherche" or any(fold(t) in REQUEST_TAGS for t in tags):
        return "request"
    return "offer"


def is_ad_request(tags: list[str]) -> bool:
    """Whether a status's hashtags ask for an ad: #annonce (or #PetiteAnnonce) and a category."""
    folded = {fold(t) for t in tags}
    return bool(folded & TRIGGER_TAGS) and category_from_tags(tags) is not None


# -- titles and marks -------------------------------------------------------------------------------

def clean_title(text: str) -> str:
    """One line of plain text, whitespace collapsed, without a state mark, at most MAX_TITLE chars."""
    line = " ".join(text.split())
    line = _MARK_RE.sub("", line)
    return line[:MAX_TITLE].strip()


def split_text(text: str) -> tuple[str, str]:
    """(first non-empty line, the rest) of an ad's plain text."""
    lines = text.strip().splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return "", ""
    return lines[0].strip(), "\n".join(lines[1:]).strip()


def mark_of(state: str, closed_reason: str | None, expired: bool) -> str | None:
    if state == "closed" and closed_reason in CLOSED_MARKS:
        return CLOSED_MARKS[closed_reason]
    return EXPIRED_MARK if expired else None


def read_mark(first_line: str) -> str | None:
    """The closed reason (`donne`...) or `expired` that a first line's mark says, else None."""
    match = _MARK_RE.match(first_line)
    if match is None:
        return None
    word = fold(match.group(1))
    return "expired" if word == fold(EXPIRED_MARK) else word if word in AD_CLOSED_REASONS else None


# -- prices -----------------------------------------------------------------------------------------

def parse_price(value: str) -> int:
    """A price a resident typed ("12", "12.5", "12,50") -> cents; negative, junk or absurd is refused."""
    text = value.strip().replace("\u202f", "").replace(" ", "").removesuffix("€")
    if text.startswith("-"):
        raise AdInputError("price must not be negative")
    if not _PRICE_RE.match(text):
        raise AdInputError("price must be a decimal number of euros such as 12 or 12.50")
    cents = int((Decimal(text.replace(",", ".")) * 100).to_integral_value(ROUND_HALF_UP))
    if cents > MAX_PRICE_CENTS:
        raise AdInputError("price is too high")
    return cents


def price_in_text(text: str) -> tuple[int | None, bool]:
    """(cents, free) found in free text: "12 €", "12,50€", "15 euros", "gratuit"; (None, False) when
    nothing certain is there. Two different amounts are ambiguous and give no price."""
    amounts = {m.group(1).replace(",", ".") for m in _TEXT_PRICE_RE.finditer(text)}
    free = bool(_FREE_RE.search(text))
    if len(amounts) != 1:
        return None, free
    cents = int((Decimal(amounts.pop()) * 100).to_integral_value(ROUND_HALF_UP))
    return (cents, False) if 0 < cents <= MAX_PRICE_CENTS else (None, free or cents == 0)


def format_amount(cents: int) -> str:
    """Cents as the decimal string of FEP-0837's hasNumericalValue ("12.50", "12")."""
    euros, rest = divmod(cents, 100)
    return f"{euros}.{rest:02d}" if rest else str(euros)


def format_price_fr(cents: int, currency: str = "EUR") -> str:
    euros, rest = divmod(cents, 100)
    grouped = f"{euros:,}".replace(",", "\u202f")
    amount = f"{grouped},{rest:02d}" if rest else grouped
    return f"{amount} €" if currency == "EUR" else f"{amount} {currency}"


def _amount_cents(value: Any) -> int | None:
    """hasNumericalValue from a remote server: a decimal string or a number, finite, 0..MAX."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    text = str(value).strip()
    if len(text) > 20:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    cents = int((amount * 100).to_integral_value(ROUND_HALF_UP))
    return cents if cents <= MAX_PRICE_CENTS else None


# -- writing ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AdFields:
    """What the wire carries of an ad."""

    category: str
    purpose: str
    price_cents: int | None
    free: bool
    expires_at: datetime
    currency: str = "EUR"


def category_uri(base_url: str, category: str) -> str:
    """`resourceConformsTo`: the list of ads of that category on this server (a real, stable URL)."""
    return f"{base_url}/api/v1/ads?category={category}"


def wire_terms(status_uri: str, base_url: str, ad: AdFields) -> dict[str, Any]:
    """The FEP-0837 properties merged into the ad's Note (`extra_json`)."""
    terms: dict[str, Any] = {
        "purpose": ad.purpose,
        "publishes": {
            "id": f"{status_uri}#primary", "type": "Intent", "action": action_of(ad.category),
            "resourceConformsTo": category_uri(base_url, ad.category),
            "resourceQuantity": {"hasUnit": "one", "hasNumericalValue": "1"},
        },
        "unitBased": False,
        "endTime": format_datetime(ad.expires_at),
    }
    if ad.price_cents is not None and not ad.free:
        terms["reciprocal"] = {
            "id": f"{status_uri}#reciprocal", "type": "Intent", "action": "transfer",
            **({"resourceConformsTo": EURO_CONFORMS_TO} if ad.currency == "EUR" else {}),
            "resourceQuantity": {"hasUnit": ad.currency, "hasNumericalValue": format_amount(ad.price_cents)},
        }
    return terms


WIRE_KEYS = ("purpose", "publishes", "reciprocal", "unitBased", "endTime")


# -- reading ----------------------------------------------------------------------------------------

def has_wire_terms(obj: dict[str, Any]) -> bool:
    """FEP-0837: a `purpose` and a `publishes` Intent (a Proposal always counts)."""
    if type_of(obj) == "Proposal":
        return True
    return isinstance(obj.get("purpose"), str) and isinstance(first(obj.get("publishes")), dict)


def purpose_of(obj: dict[str, Any]) -> str | None:
    purpose = obj.get("purpose")
    return purpose if isinstance(purpose, str) and purpose in AD_PURPOSES else None


def category_from_intent(obj: dict[str, Any]) -> str | None:
    """The category named by `publishes.resourceConformsTo` (ours: `...?category=don`; others: a
    last path segment or fragment that is one of our category names)."""
    intent = first(obj.get("publishes"))
    conforms = text_of(intent.get("resourceConformsTo"), 500) if isinstance(intent, dict) else ""
    if not conforms:
        return None
    parts = urlsplit(conforms)
    candidates = parse_qs(parts.query).get("category", [])
    candidates += [parts.fragment, parts.path.rstrip("/").rsplit("/", 1)[-1], conforms]
    for candidate in candidates:
        category = _TAG_CATEGORIES.get(fold(candidate)) or (candidate if candidate in AD_CATEGORIES else None)
        if category:
            return category
    return None


def price_from_reciprocal(obj: dict[str, Any]) -> tuple[int | None, str]:
    """(cents, currency) of a `reciprocal` money Intent; (None, "EUR") when absent or unreadable."""
    intent = first(obj.get("reciprocal"))
    if not isinstance(intent, dict):
        return None, "EUR"
    quantity = first(intent.get("resourceQuantity"))
    if not isinstance(quantity, dict):
        return None, "EUR"
    unit = quantity.get("hasUnit")
    conforms = intent.get("resourceConformsTo")
    if isinstance(unit, str) and _CURRENCY_RE.match(unit):
        currency = unit
    elif conforms == EURO_CONFORMS_TO:
        currency = "EUR"
    else:
        return None, "EUR"
    return _amount_cents(quantity.get("hasNumericalValue")), currency


def remote_expiry(obj: dict[str, Any], published: datetime) -> datetime:
    """`endTime` within a year from now (a past date is kept: the ad is already over); missing or
    absurd dates give our default life from publication."""
    now = utcnow()
    end = parse_datetime(obj.get("endTime"))
    if end is None or end > now + MAX_REMOTE_EXPIRY or end.year < 2000:
        return min(published, now) + DEFAULT_EXPIRY
    return end
