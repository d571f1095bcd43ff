"""An interest group (FEP-1b12) joined by a server nobody here wrote: bovine-herd on https://bovine-a.test
follows the group, posts to it by addressing and mentioning it, and receives what the group re-shares."""

from __future__ import annotations

from sqlalchemy import select

from actors.groups import create_group
from fediverse.models import Follow, Status
from tests.federation_steps import first, html, make_account, outbox
from tests.live import eventually
from tests.peers.bovine_peer import PUBLIC, BovinePeer
from tests.test_bovine_interop import _in, _object_id, bovine  # noqa: F401  (fixture)


async def test_a_bovine_user_joins_a_group_posts_to_it_and_receives_its_reshares(
        make_instance, bovine: BovinePeer) -> None:  # noqa: F811
    a = await make_instance("commune-a.test")
    maelle = await make_account(a, "maelle")
    async with a.runtime.sessions() as session, session.begin():
        group = await create_group(session, a.runtime.uris, "parents_ecole", owner="maelle")

    await bovine.aio.follow(group.uri)
    await eventually(lambda: first(a, select(Follow.id).where(Follow.followee_id == group.id,
                                                              Follow.state == "accepted")),
                     what="bovine's Follow of the group accepted on our side")
    await eventually(lambda: _in(bovine.aio.following(), group.uri), within=20, what="bovine in the group")

    mention = {"type": "Mention", "href": group.uri, "name": "@parents_ecole@commune-a.test"}
    created = await bovine.aio.create_note(
        '<p><span class="h-card"><a href="https://commune-a.test/@parents_ecole">@parents_ecole</a></span> '
        "Sortie scolaire vendredi : qui peut accompagner ?</p>",
        to=[PUBLIC, group.uri], cc=[bovine.followers_url], tag=[mention])
    note_id = created["object"]["id"]
    status = await eventually(lambda: first(a, select(Status).where(Status.uri == note_id)), within=20,
                              what="bovine's post stored on our side")
    await eventually(lambda: first(a, select(Status.id).where(Status.actor_id == group.id,
                                                              Status.reblog_of_id == status.id)),
                     what="the group re-sharing bovine's post")
    announce = await bovine.aio.wait_for_inbox(
        lambda item: item.get("type") == "Announce" and _object_id(item) == note_id)
    assert announce["actor"] == group.uri

    local = await outbox(a).publish(maelle.id, html(a, "@parents_ecole Réunion des parents jeudi 18 h",
                                                    mentions=[group]), mentions=[group])
    await bovine.aio.wait_for_inbox(
        lambda item: item.get("type") == "Announce" and _object_id(item) == local.uri
        and item.get("actor") == group.uri)
    assert not bovine.network_violations()
