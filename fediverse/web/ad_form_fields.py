"""The ad form (new and edit) as typed, checked field by field in the reader's language.

The checks are the ad commands' own (outbox.ad_commands.check_spec, fediverse.ad_terms.parse_price)
done first here, so that each refused field gets its own translated message next to it (422) and
the form comes back exactly as it was sent; the command still checks everything again. The end
date is a day (the ad ends at 23:59 that day, territory time), from today to the last day within
the 90 days an ad may last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from actors.ad_views import AdPhoto
from fediverse.ad_terms import DEFAULT_EXPIRY, MAX_EXPIRY, MAX_TITLE, AdInputError, parse_price
from fediverse.db import utcnow
from fediverse.models import Commune
from fediverse.models.agenda import AD_CATEGORIES, AD_PURPOSES
from fediverse.templating import TIME_ZONE
from fediverse.web.uploads import MAX_PHOTOS, PhotoInput
from outbox.ad_commands import MAX_DESCRIPTION
from outbox.ads import AD_AUTHOR_KINDS, AdSpec

ZONE = ZoneInfo(TIME_ZONE)
ENDS_AT = time(23, 59)


@dataclass
class AdForm:
    """What the new/edit form shows: the values as typed, the choices, and what was wrong (by field)."""

    title: str = ""
    description: str = ""
    category: str = ""
    purpose: str = "offer"
    price: str = ""
    free: bool = False
    commune: str = ""
    expires_on: str = ""
    communes: list[Commune] = field(default_factory=list)
    photos: PhotoInput | None = None
    existing: list[AdPhoto] = field(default_factory=list)  # an edited ad's photos
    removed: set[int] = field(default_factory=set)  # ... that the author chose to take off
    errors: dict[str, str] = field(default_factory=dict)
    problem: str | None = None  # about the form as a whole
    first_day: str = ""
    last_day: str = ""
    categories: tuple[str, ...] = AD_CATEGORIES
    max_title: int = MAX_TITLE
    max_description: int = MAX_DESCRIPTION

    @property
    def kept_existing(self) -> list[AdPhoto]:
        return [photo for photo in self.existing if photo.id not in self.removed]

    @property
    def free_slots(self) -> int:
        return max(0, MAX_PHOTOS - len(self.kept_existing) - len(self.photos.photos if self.photos else []))


def ends_at(day: date) -> datetime:
    """The moment an ad ending on `day` ends: 23:59 that day in the territory's time zone."""
    return datetime.combine(day, ENDS_AT, tzinfo=ZONE)


def day_range(now: datetime | None = None) -> tuple[date, date]:
    """The first and last days an ad may end on: today (before 23:59) and the last day within 90 days."""
    now = now or utcnow()
    today = now.astimezone(ZONE).date()
    last = (now + MAX_EXPIRY).astimezone(ZONE).date()
    if ends_at(last) > now + MAX_EXPIRY:
        last -= timedelta(days=1)
    return today, last


def local_day(moment: datetime) -> date:
    return moment.astimezone(ZONE).date()


def blank_form(communes: list[Commune], home: str | None) -> AdForm:
    """A new ad: an offer in the acting account's commune, ending in 30 days."""
    first, last = day_range()
    return AdForm(commune=home or "", communes=communes, first_day=first.isoformat(), last_day=last.isoformat(),
                  expires_on=local_day(utcnow() + DEFAULT_EXPIRY).isoformat())


def typed_form(values: Mapping[str, str], communes: list[Commune], removed: set[int]) -> AdForm:
    """The form as sent (text fields), trimmed only where whitespace never matters."""
    first, last = day_range()
    return AdForm(title=values.get("title", ""), description=values.get("description", ""),
                  category=values.get("category", "").strip().lower()[:40],
                  purpose=values.get("purpose", "offer").strip().lower()[:20],
                  price=values.get("price", "").strip()[:40],
                  free=values.get("free") == "1", commune=values.get("commune", "").strip().upper()[:10],
                  expires_on=values.get("expires_on", "").strip()[:20], communes=communes, removed=removed,
                  first_day=first.isoformat(), last_day=last.isoformat())


def may_post_ads(kind: str) -> bool:
    return kind in AD_AUTHOR_KINDS


def _price(form: AdForm, gettext: Callable[[str], str]) -> int | None:
    if not form.price:
        return None
    try:
        cents = parse_price(form.price)
    except AdInputError as exc:
        reason = str(exc)
        form.errors["price"] = gettext("The price cannot be negative.") if "negative" in reason else \
            gettext("The price is too high.") if "too high" in reason else \
            gettext("Write the price in euros, such as 12 or 12,50.")
        return None
    if form.free and cents:
        form.errors["price"] = gettext("An ad is either free or has a price: untick “Free” or clear the price.")
    return cents


def _expiry(form: AdForm, current: datetime | None, gettext: Callable[[str], str]) -> datetime | None:
    """The new end of the ad; None keeps an edited ad's end when its day was not changed."""
    try:
        day = date.fromisoformat(form.expires_on)
    except ValueError:
        form.errors["expires_on"] = gettext("Choose the day the ad ends.")
        return None
    if current is not None and day == local_day(current):
        return None
    first, last = day_range()
    if day < first or ends_at(day) <= utcnow():
        form.errors["expires_on"] = gettext("The end date must be in the future.")
    elif day > last:
        form.errors["expires_on"] = gettext("An ad lasts at most %(days)s days: choose an earlier end date.") % {
            "days": MAX_EXPIRY.days}
    return ends_at(day)


def check_form(form: AdForm, gettext: Callable[[str], str], current_expiry: datetime | None = None) -> AdSpec | None:
    """The ad the form describes, or None with a message on each refused field."""
    title = " ".join(form.title.split())
    if not title:
        form.errors["title"] = gettext("Give the ad a title.")
    elif len(title) > MAX_TITLE:
        form.errors["title"] = gettext("The title is limited to %(max)s characters.") % {"max": MAX_TITLE}
    if len(form.description.strip()) > MAX_DESCRIPTION:
        form.errors["description"] = gettext("The description is limited to %(max)s characters.") % {
            "max": MAX_DESCRIPTION}
    if form.category not in AD_CATEGORIES:
        form.errors["category"] = gettext("Choose a category.")
    if form.purpose not in AD_PURPOSES:
        form.errors["purpose"] = gettext("Say whether you offer or are looking for something.")
    cents = _price(form, gettext)
    if form.commune and form.commune not in {commune.insee for commune in form.communes}:
        form.errors["commune"] = gettext("This commune is not one of the territory's communes.")
    expires_at = _expiry(form, current_expiry, gettext)
    if form.errors:
        return None
    # "0 €" is free, and a giveaway without a price is free (as the ads API does).
    free = form.free or cents == 0 or (cents is None and form.category == "don")
    return AdSpec(title=title, description=form.description.strip(), category=form.category, purpose=form.purpose,
                  price_cents=None if free else cents, free=free, expires_at=expires_at,
                  commune=form.commune or None)
