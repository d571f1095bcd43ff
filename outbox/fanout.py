"""What the territory adds around every local status, inside the transaction that writes it.

A status gets its `location` before it is serialized (`outbox.locations`); once its Create is
queued, the instance actor shares it with neighbour instances and relays (`outbox.neighbours`),
an interest group it is addressed to re-shares it with the group's members (`outbox.groups`) and a
collectivity's themed post becomes an institutional message (`outbox.institutional`). Edits and
deletions reach the same neighbours. Keeping these calls here leaves `outbox.statuses` about the
author's own audience.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.models import Actor, Status
from outbox.ads import prepare_ad
from outbox.event_wire import prepare_event
from outbox.groups import group_member_inboxes_for, reshare_to_groups, set_group_audience
from outbox.institutional import record_institutional_message
from outbox.locations import locate_status
from outbox.neighbours import neighbour_inboxes_for, share_with_neighbours
from outbox.rsvp import record_rsvp

if TYPE_CHECKING:
    from outbox.command_base import CommandBase


async def before_serialize(cmd: CommandBase, session: AsyncSession, author: Actor, status: Status,
                           *, commune: str | None = None) -> None:
    """Give a new status its location (the author's commune unless the client named another), when it
    is addressed to an interest group its FEP-1b12 `audience`, and when it is an ad its FEP-0837 terms."""
    await locate_status(session, status, author, commune=commune)
    await set_group_audience(session, cmd.uris, status)
    await prepare_ad(cmd, session, author, status)
    await prepare_event(cmd, session, author, status)


async def before_edit_serialize(cmd: CommandBase, session: AsyncSession, author: Actor, status: Status) -> None:
    """An edited status is serialized again: an ad's or an event's structured fields follow the edit."""
    await prepare_ad(cmd, session, author, status)
    await prepare_event(cmd, session, author, status)


async def relocate(session: AsyncSession, author: Actor, status: Status, commune: str) -> None:
    """An edit that names another commune moves the status (refused, with the whole edit, if unknown)."""
    await locate_status(session, status, author, commune=commune)


async def after_publish(cmd: CommandBase, session: AsyncSession, author: Actor, status: Status,
                        note: dict[str, Any]) -> None:
    await record_institutional_message(cmd, session, author, status)
    await share_with_neighbours(cmd, session, author, status, note)
    await reshare_to_groups(cmd, session, author, status)
    await record_rsvp(cmd, session, author, status)  # a reply to an event may join or leave it


async def extra_inboxes(session: AsyncSession, status: Status) -> list[str]:
    """Inboxes beyond the author's followers that must see an Update or Delete of `status`."""
    return await neighbour_inboxes_for(session, status) + await group_member_inboxes_for(session, status)
