"""Followed hashtags, private notes, follow languages, endorsements, persistent suggestion dismissals
and still avatars, driven by the real Mastodon.py against a live instance."""

from __future__ import annotations

import ssl
from io import BytesIO

import aiohttp
import pytest
from mastodon import MastodonAPIError, MastodonNotFoundError
from PIL import Image
from sqlalchemy import select

from fediverse.models import AccountNote, Endorsement, FollowOptions, SuggestionDismissal, TagFollow
from tests.api.test_accounts import collect, ids, png, raw, start  # noqa: F401  (fixture)
from tests.conftest import issue_token
from tests.federation_steps import count, first, html, make_account, outbox


@pytest.fixture
async def commune_a(start):  # noqa: F811
    return await start("commune-a.test")


# -- followed tags -------------------------------------------------------------------------------


async def test_following_a_tag_shows_in_tag_followed_tags_and_trends(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice")
    bernard = await make_account(commune_a, "bernard")
    await outbox(commune_a).publish(bernard.id, html(commune_a, "Vide-grenier #Brocante"), tags=["Brocante"])
    client = await mastodon_client(commune_a, alice.id)
    before = await client.tag("Brocante")
    assert before["name"] == "brocante" and before["following"] is False
    assert before["url"] == "https://commune-a.test/tags/brocante" and len(before["history"]) == 7
    followed = await client.tag_follow("Brocante")
    assert followed["name"] == "brocante" and followed["following"] is True
    assert sum(int(day["uses"]) for day in followed["history"]) == 1
    await client.tag_follow("brocante")  # again: still one follow
    assert await count(commune_a, TagFollow, TagFollow.actor_id == alice.id) == 1
    assert (await client.tag("brocante"))["following"] is True
    assert [t["name"] for t in await client.followed_tags()] == ["brocante"]
    assert all(t["following"] is True for t in await client.followed_tags())
    trending = await client.trending_tags()
    assert [(t["name"], t["following"]) for t in trending] == [("brocante", True)]
    # Another reader does not follow it; anonymous readers get no `following` at all.
    other = await mastodon_client(commune_a, bernard.id)
    assert (await other.tag("brocante"))["following"] is False
    status, body, _ = await raw(commune_a, "GET", "/api/v1/tags/brocante")
    assert status == 200 and "following" not in body and body["name"] == "brocante"
    unfollowed = await client.tag_unfollow("brocante")
    assert unfollowed["following"] is False and await client.followed_tags() == []
    await client.tag_unfollow("brocante")  # not followed: nothing to do, no error


async def test_followed_tags_are_paginated_with_link_headers_and_bad_names_are_404(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice")
    client = await mastodon_client(commune_a, alice.id)
    for name in ("marche", "fete", "velo"):
        await client.tag_follow(name)
    page = await client.followed_tags(limit=2)
    assert [t["name"] for t in page] == ["velo", "fete"]  # most recently followed first
    assert [t["name"] for t in await collect(client, page)] == ["velo", "fete", "marche"]
    token = await issue_token(commune_a, alice.id)
    status, body, headers = await raw(commune_a, "GET", "/api/v1/followed_tags?limit=1", token)
    assert status == 200 and [t["name"] for t in body] == ["velo"]
    assert 'rel="next"' in headers["Link"] and "max_id=" in headers["Link"] and "limit=1" in headers["Link"]
    with pytest.raises(MastodonNotFoundError):
        await client.tag("pas-un-tag")
    status, body, _ = await raw(commune_a, "POST", "/api/v1/tags/pas-un-tag/follow", token)
    assert status == 404 and "error" in body
    read_only = await mastodon_client(commune_a, alice.id, "read")
    with pytest.raises(MastodonAPIError) as refused:
        await read_only.tag_follow("jardin")
    assert refused.value.args[1] == 403
    status, _, _ = await raw(commune_a, "GET", "/api/v1/followed_tags")
    assert status == 401


async def test_public_posts_with_a_followed_tag_join_the_home_timeline(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice")
    bernard = await make_account(commune_a, "bernard")
    tagged = await outbox(commune_a).publish(bernard.id, html(commune_a, "Marché bio #Marche"), tags=["Marche"])
    quiet = await outbox(commune_a).publish(bernard.id, html(commune_a, "Entre nous #marche"), tags=["marche"],
                                            visibility="unlisted")
    untagged = await outbox(commune_a).publish(bernard.id, html(commune_a, "Sans étiquette"))
    client = await mastodon_client(commune_a, alice.id)
    assert await client.timeline_home() == []
    await client.tag_follow("marche")
    home = ids(await client.timeline_home())
    assert home == [tagged.id]
    assert quiet.id not in home and untagged.id not in home


# -- private notes and follow languages ------------------------------------------------------------


async def test_account_note_is_kept_privately_and_shown_in_relationships(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice")
    carol = await make_account(commune_a, "carol")
    client = await mastodon_client(commune_a, alice.id)
    rel = await client.account_note_set(carol.id, "Voisine du 12, prête sa tondeuse")
    assert rel["id"] == str(carol.id) and rel["note"] == "Voisine du 12, prête sa tondeuse"
    assert (await client.account_relationships([carol.id]))[0]["note"] == "Voisine du 12, prête sa tondeuse"
    # Following shows the same relationship, note included; carol does not see alice's note.
    assert (await client.account_follow(carol.id))["note"] == "Voisine du 12, prête sa tondeuse"
    carol_client = await mastodon_client(commune_a, carol.id)
    assert (await carol_client.account_relationships([alice.id]))[0]["note"] == ""
    rel = await client.account_note_set(carol.id, "Prête sa tondeuse")
    assert rel["note"] == "Prête sa tondeuse"
    assert await count(commune_a, AccountNote, AccountNote.actor_id == alice.id) == 1
    token = await issue_token(commune_a, alice.id)
    status, body, _ = await raw(commune_a, "POST", f"/api/v1/accounts/{carol.id}/note", token,
                                json={"comment": "x" * 2001})
    assert status == 422 and "error" in body
    assert (await client.account_note_set(carol.id, ""))["note"] == ""
    assert await first(commune_a, select(AccountNote.id)) is None
    with pytest.raises(MastodonNotFoundError):
        await client.account_note_set(987654321, "personne")


async def test_follow_languages_are_stored_and_returned_in_relationships(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice")
    carol = await make_account(commune_a, "carol")
    token = await issue_token(commune_a, alice.id)
    status, rel, _ = await raw(commune_a, "POST", f"/api/v1/accounts/{carol.id}/follow", token,
                               json={"languages": ["fr", "BR", "fr"]})
    assert status == 200 and rel["following"] is True and rel["languages"] == ["fr", "br"]
    client = await mastodon_client(commune_a, alice.id)
    assert (await client.account_relationships([carol.id]))[0]["languages"] == ["fr", "br"]
    # Mastodon.py's follow sends no languages: they stay.
    assert (await client.account_follow(carol.id, reblogs=False))["languages"] == ["fr", "br"]
    status, body, _ = await raw(commune_a, "POST", f"/api/v1/accounts/{carol.id}/follow", token,
                                data=[("languages[]", "français")])
    assert status == 422 and "error" in body
    assert (await client.account_relationships([carol.id]))[0]["languages"] == ["fr", "br"]
    status, rel, _ = await raw(commune_a, "POST", f"/api/v1/accounts/{carol.id}/follow", token,
                               data=[("languages[]", "")])
    assert status == 200 and rel["languages"] is None  # all languages again
    assert await first(commune_a, select(FollowOptions.languages_json)) is None
    await raw(commune_a, "POST", f"/api/v1/accounts/{carol.id}/follow", token, json={"languages": ["de"]})
    rel = await client.account_unfollow(carol.id)
    assert rel["languages"] is None
    assert (await client.account_follow(carol.id))["languages"] is None  # a new follow starts from all


# -- endorsements ----------------------------------------------------------------------------------


async def test_endorsements_feature_followed_accounts_only(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice")
    club = await make_account(commune_a, "club-foot", kind="association")
    carol = await make_account(commune_a, "carol")
    dave = await make_account(commune_a, "dave")
    client = await mastodon_client(commune_a, alice.id)
    with pytest.raises(MastodonAPIError) as refused:
        await client.account_pin(club.id)
    assert refused.value.args[1] == 422
    for target in (club, carol, dave):
        await client.account_follow(target.id)
    rel = await client.account_pin(club.id)
    assert rel["endorsed"] is True and rel["following"] is True
    await client.account_pin(club.id)  # again: still one
    await client.account_pin(carol.id)
    token = await issue_token(commune_a, alice.id)
    status, rel, _ = await raw(commune_a, "POST", f"/api/v1/accounts/{dave.id}/endorse", token)  # Mastodon 4.4 name
    assert status == 200 and rel["endorsed"] is True
    assert await count(commune_a, Endorsement, Endorsement.actor_id == alice.id) == 3
    assert ids(await client.endorsements()) == [dave.id, carol.id, club.id]
    assert (await client.account_relationships([club.id]))[0]["endorsed"] is True
    status, body, headers = await raw(commune_a, "GET", "/api/v1/endorsements?limit=2", token)
    assert status == 200 and [a["id"] for a in body] == [str(dave.id), str(carol.id)]
    assert 'rel="next"' in headers["Link"]
    # Anyone can see whom an account features (Mastodon 4.4's /accounts/:id/endorsements).
    status, body, headers = await raw(commune_a, "GET", f"/api/v1/accounts/{alice.id}/endorsements?limit=2")
    assert status == 200 and [a["id"] for a in body] == [str(dave.id), str(carol.id)] and "Link" in headers
    next_url = headers["Link"].split(">")[0].removeprefix("<").removeprefix(commune_a.base_url)
    status, body, _ = await raw(commune_a, "GET", next_url)
    assert status == 200 and [a["id"] for a in body] == [str(club.id)]
    rel = await client.account_unpin(carol.id)
    assert rel["endorsed"] is False
    status, rel, _ = await raw(commune_a, "POST", f"/api/v1/accounts/{dave.id}/unendorse", token)
    assert status == 200 and rel["endorsed"] is False
    # Unfollowing stops featuring.
    assert (await client.account_unfollow(club.id))["endorsed"] is False
    assert await client.endorsements() == []
    status, _, _ = await raw(commune_a, "GET", "/api/v1/endorsements")
    assert status == 401


# -- suggestions -----------------------------------------------------------------------------------


async def test_dismissed_suggestions_stay_dismissed_after_a_restart(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice")
    club = await make_account(commune_a, "club-foot", kind="association")
    bernard = await make_account(commune_a, "bernard")
    await outbox(commune_a).publish(bernard.id, html(commune_a, "Bonjour"))
    client = await mastodon_client(commune_a, alice.id)
    assert ids(await client.suggestions_v1()) == [club.id, bernard.id]
    await client.suggestion_delete(club.id)
    await client.suggestion_delete(club.id)
    await client.suggestion_delete(424242)  # unknown: accepted, nothing stored
    assert await count(commune_a, SuggestionDismissal, SuggestionDismissal.actor_id == alice.id) == 1
    assert ids(await client.suggestions_v1()) == [bernard.id]
    await commune_a.stop()
    await commune_a.start()
    assert [s["account"]["id"] for s in await client.suggestions_v2()] == [str(bernard.id)]
    # Dismissals are per viewer.
    other = await mastodon_client(commune_a, bernard.id)
    assert ids(await other.suggestions_v1()) == [club.id]


# -- still avatars ---------------------------------------------------------------------------------


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (120, 120), color) for color in ((200, 30, 30), (30, 200, 30), (30, 30, 200))]
    out = BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


async def fetch(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url, ssl=ssl.create_default_context()) as got:
        return got.status, await got.read()


async def test_an_animated_avatar_gets_a_still_avatar_static(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice")
    client = await mastodon_client(commune_a, alice.id)
    me = await client.account_update_credentials(avatar=animated_gif(), avatar_mime_type="image/gif",
                                                 header=animated_gif(), header_mime_type="image/gif")
    assert me["avatar"] != me["avatar_static"] and me["header"] != me["header_static"]
    status, animated = await fetch(me["avatar"])
    assert status == 200
    with Image.open(BytesIO(animated)) as im:
        assert getattr(im, "is_animated", False)
    status, still = await fetch(me["avatar_static"])
    assert status == 200
    with Image.open(BytesIO(still)) as im:
        assert not getattr(im, "is_animated", False)
    assert (await client.account(alice.id))["avatar_static"] == me["avatar_static"]
    # A still picture replaces both, and the old still file goes away.
    again = await client.account_update_credentials(avatar=png(80, 80), avatar_mime_type="image/png")
    assert again["avatar_static"] == again["avatar"] != me["avatar"]
    assert again["header_static"] == me["header_static"]
    assert (await fetch(me["avatar_static"]))[0] == 404
    assert (await fetch(me["header_static"]))[0] == 200
