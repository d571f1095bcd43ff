"""What a stored or edited remote object may also be: a petite annonce (FEP-0837 terms, #PetiteAnnonce)
or an agenda event (Mobilizon/Gancio `Event`). Called inside the transaction that stores the Status,
so the structured rows never lag behind it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.models import Status
from inbox.ads import recognise_ad
from inbox.context import InboxContext
from inbox.events import recognise_event


async def recognise_remote_object(ctx: InboxContext, session: AsyncSession, status: Status,
                                  obj: dict[str, Any]) -> None:
    await recognise_ad(ctx, session, status, obj)
    await recognise_event(ctx, session, status, obj)
