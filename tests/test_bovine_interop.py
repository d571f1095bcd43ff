"""Federation with an implementation nobody here wrote: bovine-herd on https://bovine-a.test.

Follows both ways, posts both ways, every request signed and verified by the receiving side.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from sqlalchemy import select

from actors.remote import ActorResolver
from fediverse.models import Follow, IncomingActivity, Status
from tests.federation_steps import first, html, make_account, outbox
from tests.live import eventually
from tests.peers.bovine_peer import PUBLIC, BovinePeer, BovineVenvUnavailable, ensure_bovine_venv


@pytest.fixture
async def bovine(test_ca: tuple[trustme.CA, Path]) -> AsyncIterator[BovinePeer]:
    try:
        ensure_bovine_venv()
    except BovineVenvUnavailable as exc:
        pytest.skip(f"bovine's virtualenv cannot be built, the package index is unreachable: {exc}")
    peer = BovinePeer(ca=test_ca[0], manage_hosts=False)
    await peer.aio.start()
    yield peer
    await peer.aio.stop()


async def test_bovine_follows_us_and_receives_our_posts(make_instance, bovine: BovinePeer) -> None:
    a = await make_instance("commune-a.test")
    alice = await make_account(a, "alice")
    await bovine.aio.follow(alice.uri)
    follow = await eventually(lambda: first(a, select(Follow).where(Follow.followee_id == alice.id)),
                              what="bovine's Follow stored on our side")
    # We auto-accept; bovine records the follow only on a valid, signed Accept naming its Follow.
    await eventually(lambda: _in(bovine.aio.following(), alice.uri), within=20, what="bovine following us")
    assert await first(a, select(Follow.state).where(Follow.id == follow.id)) == "accepted"
    status = await outbox(a).publish(alice.id, html(a, "Fête de la musique place de la mairie"))
    item = await bovine.aio.wait_for_inbox(
        lambda item: item.get("type") == "Create" and _object_id(item) == status.uri)
    assert "Fête de la musique" in str(item)
    assert not bovine.network_violations()


async def test_we_follow_bovine_and_receive_its_posts(make_instance, bovine: BovinePeer) -> None:
    a = await make_instance("commune-a.test")
    alice = await make_account(a, "alice")
    remote = await ActorResolver(a.runtime).get(bovine.actor_id)  # signed GET: bovine refuses unsigned ones
    assert remote.inbox_url == bovine.inbox_url
    await outbox(a).follow(alice.id, remote.id)
    await eventually(lambda: _in(bovine.aio.followers(), alice.uri, accept_first=bovine), within=20,
                     what="bovine accepting our Follow")
    await eventually(lambda: first(a, select(Follow.state).where(Follow.follower_id == alice.id,
                                                                 Follow.state == "accepted")),
                     what="bovine's Accept processed on our side")
    created = await bovine.aio.create_note("Bonjour de bovine", to=[PUBLIC])
    note_id = created["object"]["id"] if isinstance(created.get("object"), dict) else created["object"]
    status = await eventually(lambda: first(a, select(Status).where(Status.uri == note_id)), within=20,
                              what="bovine's post stored on our side")
    assert status.visibility == "public" and "Bonjour de bovine" in status.content
    dm = await bovine.aio.create_note("Message direct", to=[alice.uri], cc=[])
    dm_id = dm["object"]["id"] if isinstance(dm.get("object"), dict) else dm["object"]
    direct = await eventually(lambda: first(a, select(Status).where(Status.uri == dm_id)), within=20,
                              what="bovine's direct message stored")
    assert direct.visibility == "direct"
    states = await _states(a)
    assert states and set(states) <= {"done"}, states


async def _in(items_coro, uri: str, accept_first: BovinePeer | None = None) -> bool:
    if accept_first is not None:
        await accept_first.aio.accept_pending_follows()
    return uri in await items_coro


def _object_id(item: dict) -> str | None:
    obj = item.get("object")
    return obj.get("id") if isinstance(obj, dict) else obj


async def _states(instance) -> list[str]:
    async with instance.runtime.sessions() as session:
        return list((await session.scalars(select(IncomingActivity.state))).all())
