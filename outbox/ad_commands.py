"""Ad commands (the ads API and the expiry job): each one is a single `Outbox.publish`/`edit`/
`delete_status` call, so the status, its Ad row (written by `outbox.ads.prepare_ad` in the same
transaction) and the Create/Update/Delete that federates are stored together or not at all.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import update

from actors.ads import ad_of_status, ad_with_status, ads_due_for_expiry
from fediverse.ad_terms import MAX_EXPIRY, MAX_TITLE
from fediverse.db import utcnow
from fediverse.models import Ad, Status
from fediverse.models.agenda import AD_CATEGORIES, AD_CLOSED_REASONS, AD_PURPOSES
from fediverse.runtime import Runtime
from fediverse.worker import run_loop
from outbox.ads import AdSpec, PendingAd, pending_ad, reset_pending
from outbox.errors import CommandError, NotFound

if TYPE_CHECKING:
    from outbox.commands import Outbox

log = logging.getLogger(__name__)
MAX_DESCRIPTION = 5000
EXPIRY_BATCH = 50
EXPIRY_POLL_SECONDS = 60.0


def check_spec(spec: AdSpec) -> AdSpec:
    """Refuse what cannot be an ad, with a message naming the field."""
    spec.title = " ".join(spec.title.split())
    spec.description = spec.description.strip()
    if not spec.title:
        raise CommandError("title is required")
    if len(spec.title) > MAX_TITLE:
        raise CommandError(f"title is limited to {MAX_TITLE} characters")
    if len(spec.description) > MAX_DESCRIPTION:
        raise CommandError(f"description is limited to {MAX_DESCRIPTION} characters")
    if spec.category not in AD_CATEGORIES:
        raise CommandError(f"unknown category {spec.category[:40]!r} (one of {', '.join(AD_CATEGORIES)})")
    if spec.purpose not in AD_PURPOSES:
        raise CommandError("purpose must be offer or request")
    if spec.price_cents is not None and spec.price_cents < 0:
        raise CommandError("price must not be negative")
    if spec.free and spec.price_cents:
        raise CommandError("an ad is either free or has a price, not both")
    if spec.expires_at is not None:
        check_expiry(spec.expires_at)
    return spec


def check_expiry(expires_at: datetime) -> None:
    now = utcnow()
    if expires_at <= now:
        raise CommandError("expires_at must be in the future")
    if expires_at > now + MAX_EXPIRY:
        raise CommandError(f"expires_at must be within {MAX_EXPIRY.days} days")


async def post_ad(outbox: Outbox, actor_id: int, spec: AdSpec) -> Ad:
    """Publish a new ad (a public Note) and return its row."""
    check_spec(spec)
    content, mentions, tags = await outbox.compose(spec.text())
    token = pending_ad(PendingAd(actor_id, None, spec=spec))
    try:
        status = await outbox.publish(actor_id, content, visibility="public", mentions=mentions, tags=tags,
                                      source_text=spec.text(), media_ids=spec.media_ids or (), commune=spec.commune,
                                      language="fr")
    finally:
        reset_pending(token)
    return await _ad_of(outbox, status.id)


async def own_ad(outbox: Outbox, actor_id: int, ad_id: int) -> tuple[Ad, Status]:
    """The author's own local ad; anyone else's (or a remote one) does not exist for this purpose."""
    async with outbox.runtime.sessions() as session:
        found = await ad_with_status(session, ad_id)
    if found is None or not found[0].local or found[0].actor_id != actor_id:
        raise NotFound("no such ad")
    return found


async def edit_ad(outbox: Outbox, actor_id: int, ad_id: int, spec: AdSpec) -> Ad:
    """Replace the ad's fields (the caller merged what was not sent); an Update federates."""
    check_spec(spec)
    ad, status = await own_ad(outbox, actor_id, ad_id)
    content, mentions, tags = await outbox.compose(spec.text())
    await _edit(outbox, PendingAd(actor_id, status.id, spec=spec), content, source_text=spec.text(),
                mentions=mentions, tags=tags, media_ids=spec.media_ids, commune=spec.commune)
    return await _ad_of(outbox, status.id)


async def close_ad(outbox: Outbox, actor_id: int, ad_id: int, reason: str) -> Ad:
    """Close the ad (donné, trouvé, pourvu): it leaves the list and its Note gets the mark."""
    if reason not in AD_CLOSED_REASONS:
        raise CommandError(f"reason must be one of {', '.join(AD_CLOSED_REASONS)}")
    _ad, status = await own_ad(outbox, actor_id, ad_id)
    await _edit(outbox, PendingAd(actor_id, status.id, close_reason=reason), status.content,
                source_text=status.source_text)
    return await _ad_of(outbox, status.id)


async def delete_ad(outbox: Outbox, actor_id: int, ad_id: int) -> None:
    """Delete the ad's status (the row goes with it); followers get the usual Delete."""
    _ad, status = await own_ad(outbox, actor_id, ad_id)
    await outbox.delete_status(actor_id, status.id)


async def _edit(outbox: Outbox, pending: PendingAd, content: str, **kwargs: object) -> None:
    assert pending.status_id is not None
    token = pending_ad(pending)
    try:
        await outbox.edit(pending.author_id, pending.status_id, content, **kwargs)  # type: ignore[arg-type]
    finally:
        reset_pending(token)


async def _ad_of(outbox: Outbox, status_id: int) -> Ad:
    async with outbox.runtime.sessions() as session:
        ad = await ad_of_status(session, status_id)
    if ad is None:
        raise CommandError("this post could not be made an ad")
    return ad


# -- expiry -----------------------------------------------------------------------------------------

async def expire_due_ads(runtime: Runtime) -> int:
    """Record the ads whose date has passed (once each); a local one also gets the `[Expirée]` mark
    and an Update to followers. Returns how many were handled."""
    from outbox.commands import Outbox  # the facade is built on top of this module's layer

    async with runtime.sessions() as session:
        due = await ads_due_for_expiry(session, EXPIRY_BATCH)
    outbox = Outbox(runtime)
    for ad in due:
        if ad.local:
            try:
                async with runtime.sessions() as session:
                    status = await session.get(Status, ad.status_id)
                if status is not None:
                    await _edit(outbox, PendingAd(ad.actor_id, status.id, expire=True), status.content,
                                source_text=status.source_text)
            except (CommandError, NotFound) as exc:  # author gone or post no longer an ad: just record it
                log.info("ad %s expired without an Update: %s", ad.id, exc)
        # Recorded in any case (a no-op after the Update), so a failing ad is never picked again.
        async with runtime.transaction() as session:
            await session.execute(update(Ad).where(Ad.id == ad.id, Ad.expired_at.is_(None))
                                  .values(expired_at=utcnow()).execution_options(synchronize_session=False))
    return len(due)


async def run_ad_expiry(runtime: Runtime, stopping: asyncio.Event) -> None:
    """Expire ads about once a minute (fediverse.app.start_workers runs this)."""

    async def step() -> int:
        return await expire_due_ads(runtime)

    await run_loop("ad-expiry", step, runtime.wakeup_event("ads"),
                   max(runtime.settings.worker_poll_seconds, EXPIRY_POLL_SECONDS), stopping)
