"""Lists and their timelines, and content filters (v2 and the v1 view) applied to timelines, driven
by the real Mastodon.py against a live instance."""

from __future__ import annotations

import pytest
from mastodon import MastodonAPIError, MastodonNotFoundError

from tests.api import test_timelines as shared
from tests.api.test_timelines import follow, p, post, raw, texts
from tests.conftest import issue_token
from tests.federation_steps import make_account, outbox

# Fixtures shared with the timeline tests.
close_idle_client_connections = shared.close_idle_client_connections
commune_a = shared.commune_a
trio = shared.trio

# -- lists ------------------------------------------------------------------------------------------


async def test_lists_are_created_renamed_listed_and_deleted(trio, mastodon_client):
    instance, alice, bob, _carol = trio
    client = await mastodon_client(instance, alice.id)
    created = await client.list_create("Voisins")
    assert created["title"] == "Voisins" and created["replies_policy"] == "list" and created["exclusive"] is False
    assert isinstance(created["id"], str)
    other = await client.list_create("Mairie", replies_policy="followed", exclusive=True)
    assert [entry["title"] for entry in await client.lists()] == ["Voisinage", "Voisins", "Mairie"]
    renamed = await client.list_update(created["id"], "Voisins proches", replies_policy="none")
    assert (renamed["title"], renamed["replies_policy"]) == ("Voisins proches", "none")
    assert (await client.list(other["id"]))["exclusive"] is True
    await client.list_delete(other["id"])
    with pytest.raises(MastodonNotFoundError):
        await client.list(other["id"])
    # Somebody else's list does not exist for bob.
    intruder = await mastodon_client(instance, bob.id)
    with pytest.raises(MastodonNotFoundError):
        await intruder.list(created["id"])
    with pytest.raises(MastodonAPIError) as error:
        await client.list_create("   ")
    assert error.value.args[1] == 422


async def test_only_followed_accounts_can_join_a_list(trio, mastodon_client):
    instance, alice, bob, carol = trio
    client = await mastodon_client(instance, alice.id)
    neighbours = await client.list_create("Voisins")
    await client.list_accounts_add(neighbours["id"], [str(bob.id)])
    with pytest.raises(MastodonAPIError) as error:
        await client.list_accounts_add(neighbours["id"], [str(carol.id)])
    assert error.value.args[1] == 422
    members = await client.list_accounts(neighbours["id"])
    assert [m["acct"] for m in members] == ["bob"]
    assert [entry["id"] for entry in await client.account_lists(str(bob.id))] == [neighbours["id"]]
    await client.list_accounts_delete(neighbours["id"], [str(bob.id)])
    assert await client.list_accounts(neighbours["id"]) == []


async def test_list_timeline_shows_its_members_and_replies_by_policy(trio, mastodon_client):
    instance, alice, bob, carol = trio
    dave = await make_account(instance, "dave")
    await follow(instance, alice, dave)
    await follow(instance, alice, carol)
    client = await mastodon_client(instance, alice.id)
    neighbours = await client.list_create("Voisins")
    await client.list_accounts_add(neighbours["id"], [str(bob.id), str(carol.id)])
    carol_post = await post(instance, carol, "carol dans la liste")
    dave_post = await post(instance, dave, "dave hors liste")
    await post(instance, bob, "bob dans la liste")
    await post(instance, bob, "bob répond à carol", in_reply_to_id=carol_post.id)
    await post(instance, bob, "bob répond à dave", in_reply_to_id=dave_post.id)
    await post(instance, bob, "@alice secret", mentions=[alice], visibility="direct")
    assert texts(await client.timeline_list(neighbours["id"])) == [
        p("bob répond à carol"), p("bob dans la liste"), p("carol dans la liste")]
    await client.list_update(neighbours["id"], "Voisins", replies_policy="followed")
    assert p("bob répond à dave") in texts(await client.timeline_list(neighbours["id"]))
    await client.list_update(neighbours["id"], "Voisins", replies_policy="none")
    assert texts(await client.timeline_list(neighbours["id"])) == [p("bob dans la liste"),
                                                                    p("carol dans la liste")]
    # An exclusive list takes its members out of the home timeline.
    assert p("carol dans la liste") in texts(await client.timeline_home())
    await client.list_update(neighbours["id"], "Voisins", exclusive=True)
    home = texts(await client.timeline_home())
    assert p("carol dans la liste") not in home and p("dave hors liste") in home
    # Unfollowing removes an account's posts from the list timeline even if it is still a member.
    await outbox(instance).unfollow(alice.id, carol.id)
    assert p("carol dans la liste") not in texts(await client.timeline_list(neighbours["id"]))


# -- filters ----------------------------------------------------------------------------------------


async def test_warn_filter_marks_statuses_in_home_and_hide_filter_removes_them(trio, mastodon_client):
    instance, alice, bob, _carol = trio
    for number in range(6):
        await post(instance, bob, f"ordinaire {number}")
    await post(instance, bob, "Les TRAVAUX commencent lundi")
    await post(instance, bob, "Fête du village samedi")
    client = await mastodon_client(instance, alice.id)
    warn = await client.create_filter_v2("Chantiers", ["home"], "warn",
                                         keywords_attributes=[{"keyword": "travaux", "whole_word": True}])
    assert warn["filter_action"] == "warn" and warn["keywords"][0]["keyword"] == "travaux"
    home = await client.timeline_home()
    warned = next(s for s in home if "TRAVAUX" in s["content"])
    assert warned["filtered"] == [{"filter": {"id": warn["id"], "title": "Chantiers", "context": ["home"],
                                              "expires_at": None, "filter_action": "warn"},
                                   "keyword_matches": ["TRAVAUX"], "status_matches": None}]
    assert all(s["filtered"] == [] for s in home if s is not warned)
    await client.create_filter_v2("Fêtes", ["home", "public"], "hide",
                                  keywords_attributes=[{"keyword": "fête", "whole_word": False}])
    page = await client.timeline_home(limit=7)
    assert len(page) == 7  # the hidden status is replaced by the next one
    assert not any("Fête" in s["content"] for s in page)
    assert not any("Fête" in s["content"] for s in await client.timeline_public())
    # The filter does not apply to another context (notifications) nor to another account.
    other = await mastodon_client(instance, bob.id)
    assert any("Fête" in s["content"] for s in await other.timeline_home())


async def test_filter_on_a_status_and_on_a_boost_is_reported_on_the_boosted_status(trio, mastodon_client):
    instance, alice, bob, carol = trio
    original = await post(instance, carol, "une annonce")
    await outbox(instance).boost(bob.id, original.id)
    client = await mastodon_client(instance, alice.id)
    created = await client.create_filter_v2("Annonces", ["home"], "warn")
    entry = await client.add_filter_status_v2(created["id"], str(original.id))
    assert entry["status_id"] == str(original.id)
    home = await client.timeline_home()
    boost = home[0]
    assert boost["filtered"] == []
    assert boost["reblog"]["filtered"][0]["status_matches"] == [str(original.id)]
    assert [s["id"] for s in await client.filter_statuses_v2(created["id"])] == [entry["id"]]
    await client.delete_filter_status_v2(entry["id"])
    assert (await client.timeline_home())[0]["reblog"]["filtered"] == []


async def test_filter_keywords_are_added_changed_and_removed_and_filters_expire(trio, mastodon_client):
    instance, alice, bob, _carol = trio
    await post(instance, bob, "réunion publique ce soir")
    client = await mastodon_client(instance, alice.id)
    created = await client.create_filter_v2("Réunions", ["home"], "warn", expires_in=3600)
    assert created["expires_at"] is not None and created["keywords"] == []
    keyword = await client.add_filter_keyword_v2(created["id"], "réunion", whole_word=True)
    assert [k["keyword"] for k in await client.filter_keywords_v2(created["id"])] == ["réunion"]
    assert (await client.timeline_home())[0]["filtered"][0]["keyword_matches"] == ["réunion"]
    updated = await client.update_filter_v2(created["id"], title="Réunions et conseils",
                                            keywords_attributes=[{"id": keyword["id"], "_destroy": True},
                                                                 {"keyword": "conseil"}])
    assert updated["title"] == "Réunions et conseils"
    assert [k["keyword"] for k in updated["keywords"]] == ["conseil"]
    assert (await client.timeline_home())[0]["filtered"] == []
    token = await issue_token(instance, alice.id)
    status, body, _ = await raw(instance, "PUT", f"/api/v2/filters/{created['id']}", token,
                                json={"keywords_attributes": [{"keyword": "soir"}], "expires_in": ""})
    assert status == 200 and body["expires_at"] is None
    assert (await client.timeline_home())[0]["filtered"][0]["keyword_matches"] == ["soir"]
    await client.delete_filter_v2(created["id"])
    assert await client.filters_v2() == []
    with pytest.raises(MastodonNotFoundError):
        await client.filter_v2(created["id"])


async def test_expired_filters_no_longer_apply(trio, mastodon_client):
    from sqlalchemy import update

    from fediverse.db import utcnow
    from fediverse.models import Filter

    instance, alice, bob, _carol = trio
    await post(instance, bob, "travaux rue haute")
    client = await mastodon_client(instance, alice.id)
    created = await client.create_filter_v2("Travaux", ["home"], "hide",
                                            keywords_attributes=[{"keyword": "travaux"}])
    assert await client.timeline_home() == []
    async with instance.runtime.sessions() as session, session.begin():
        await session.execute(update(Filter).where(Filter.id == int(created["id"])).values(expires_at=utcnow()))
    assert texts(await client.timeline_home()) == [p("travaux rue haute")]


async def test_v1_filters_show_the_v2_keywords_and_can_be_managed(trio, mastodon_client):
    instance, alice, _bob, _carol = trio
    client = await mastodon_client(instance, alice.id)
    v2 = await client.create_filter_v2("Mots", ["home", "notifications"], "hide",
                                       keywords_attributes=[{"keyword": "vélo", "whole_word": False}])
    legacy = await client.filters()
    assert legacy == [{"id": v2["keywords"][0]["id"], "phrase": "vélo", "context": ["home", "notifications"],
                       "whole_word": False, "expires_at": None, "irreversible": True}]
    created = await client.filter_create("voiture", ["public"], irreversible=False, whole_word=True)
    assert (created["phrase"], created["context"], created["irreversible"]) == ("voiture", ["public"], False)
    changed = await client.filter_update(created["id"], phrase="camion", context=["home"])
    assert (changed["phrase"], changed["context"]) == ("camion", ["home"])
    assert [f["title"] for f in await client.filters_v2()] == ["Mots", "voiture"]
    await client.filter_delete(created["id"])
    assert [f["title"] for f in await client.filters_v2()] == ["Mots"]
    token = await issue_token(instance, alice.id, scopes="read:statuses")
    status, body, _ = await raw(instance, "GET", "/api/v2/filters", token)
    assert status == 403 and "error" in body
    status, body, _ = await raw(instance, "POST", "/api/v2/filters", await issue_token(instance, alice.id),
                                json={"title": "x", "context": ["partout"]})
    assert status == 422 and body["error"].startswith("Validation failed")
