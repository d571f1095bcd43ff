"""Instance metadata and the small discovery endpoints, driven by the real Mastodon.py client
against live instances (commune-a.test, commune-b.test) over HTTPS."""

from __future__ import annotations

import asyncio
import ssl
import warnings
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from mastodon import Mastodon
from mastodon.errors import MastodonNotFoundError
from sqlalchemy import select

from fediverse.models import Follow, ScheduledStatus
from tests.conftest import issue_token
from tests.federation_steps import first, html, make_account, outbox, remote_actor
from tests.live import eventually


async def _get(instance, path, token=None, params=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(
            f"{instance.base_url}{path}", params=params, headers=headers,
            ssl=ssl.create_default_context()) as response:
        return response.status, await response.json(content_type=None), response.headers


@pytest.fixture
async def commune_a(make_instance):
    return await make_instance("commune-a.test", instance_name="Commune A", territory_name="Vallée de l'Ouche")


async def test_mastodon_py_detects_version_4_3_and_api_version_2_without_warnings(commune_a):
    await make_account(commune_a, "alice")
    base = commune_a.base_url

    def connect():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client = Mastodon(api_base_url=base, version_check_mode="created", request_timeout=30)
            version = client.retrieve_mastodon_version()
        return client, version, [str(w.message) for w in caught]

    client, version, caught = await asyncio.to_thread(connect)
    assert version.startswith("4.3.0")
    assert (client.mastodon_major, client.mastodon_minor, client.mastodon_patch) == (4, 3, 0)
    assert client.mastodon_api_version == 2
    assert not [w for w in caught if "API version" in w or "version" in w.lower()], caught


async def test_instance_v1_has_mastodon_shape_and_real_counts(commune_a, mastodon_client):
    admin = await make_account(commune_a, "maire", is_admin=True)
    alice = await make_account(commune_a, "alice")
    await outbox(commune_a).publish(alice.id, html(commune_a, "Bonjour la commune"))
    client = await mastodon_client(commune_a, alice.id)
    info = await client.instance_v1()
    assert info["uri"] == "commune-a.test"
    assert info["title"] == "Commune A"
    assert "Vallée de l'Ouche" in info["short_description"]
    assert info["version"] == "4.3.0 (compatible; fediverse-territoire 0.1.0)"
    assert info["urls"]["streaming_api"] == "wss://commune-a.test"
    assert info["stats"] == {"user_count": 2, "status_count": 1, "domain_count": 0}
    assert info["languages"] == ["fr"]
    assert isinstance(info["registrations"], bool) and isinstance(info["approval_required"], bool)
    assert info["configuration"]["statuses"] == {"max_characters": 5000, "max_media_attachments": 4,
                                                 "characters_reserved_per_url": 23}
    assert info["configuration"]["polls"] == {"max_options": 4, "max_characters_per_option": 50,
                                              "min_expiration": 300, "max_expiration": 2629746}
    media = info["configuration"]["media_attachments"]
    assert "image/jpeg" in media["supported_mime_types"] and media["image_size_limit"] > 0
    assert media["image_matrix_limit"] > 0 and media["video_size_limit"] > 0
    assert str(info["contact_account"]["id"]) == str(admin.id)
    assert info["rules"] == []
    assert info["thumbnail"].startswith("https://commune-a.test/")


async def test_instance_v2_has_mastodon_shape(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice")
    await outbox(commune_a).publish(alice.id, html(commune_a, "Premier message"))
    client = await mastodon_client(commune_a, alice.id)
    info = await client.instance_v2()
    assert info["domain"] == "commune-a.test"
    assert info["title"] == "Commune A"
    assert info["version"].startswith("4.3.0")
    assert isinstance(info["source_url"], str)
    assert info["usage"]["users"]["active_month"] == 1
    assert info["thumbnail"]["url"].startswith("https://commune-a.test/")
    configuration = info["configuration"]
    assert configuration["urls"]["streaming"] == "wss://commune-a.test"
    assert configuration["accounts"]["max_featured_tags"] > 0
    assert configuration["statuses"]["max_characters"] == 5000
    assert configuration["polls"]["max_options"] == 4
    assert configuration["translation"] == {"enabled": False}
    assert set(info["registrations"]) >= {"enabled", "approval_required", "message"}
    assert set(info["contact"]) == {"email", "account"}
    assert info["rules"] == []
    assert info["api_versions"] == {"mastodon": 2}
    # Mastodon.py's instance() picks v2 once it knows the version.
    assert (await client.instance())["domain"] == "commune-a.test"


async def test_peers_and_domain_count_include_a_federated_instance(commune_a, make_instance, mastodon_client):
    b = await make_instance("commune-b.test")
    alice = await make_account(commune_a, "alice")
    await make_account(b, "bob")
    client = await mastodon_client(commune_a, alice.id)
    assert await client.instance_peers() == []
    bob = await remote_actor(commune_a, "bob@commune-b.test")
    await outbox(commune_a).follow(alice.id, bob.id)
    await eventually(lambda: first(commune_a, select(Follow.id).where(Follow.state == "accepted")), what="Accept")
    assert await client.instance_peers() == ["commune-b.test"]
    assert (await client.instance_v1())["stats"]["domain_count"] == 1


async def test_activity_gives_twelve_weeks_of_string_counts_newest_first(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice")
    await make_account(commune_a, "bernard")
    for text in ("Un", "Deux"):
        await outbox(commune_a).publish(alice.id, html(commune_a, text))
    client = await mastodon_client(commune_a, alice.id)
    weeks = await client.instance_activity()
    assert len(weeks) == 12
    status, raw, _ = await _get(commune_a, "/api/v1/instance/activity")
    assert status == 200
    assert all(isinstance(w[k], str) for w in raw for k in ("week", "statuses", "logins", "registrations"))
    starts = [int(w["week"]) for w in raw]
    assert starts == sorted(starts, reverse=True) and starts[0] <= datetime.now(UTC).timestamp()
    # Both posts and both sign-ups happened just now: in the newest week (or the one before, at a week boundary).
    assert sum(int(w["statuses"]) for w in raw[:2]) == 2 and sum(int(w["statuses"]) for w in raw) == 2
    assert sum(int(w["registrations"]) for w in raw[:2]) == 2


async def test_rules_texts_and_missing_terms_of_service(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice")
    client = await mastodon_client(commune_a, alice.id)
    assert await client.instance_rules() == []
    description = await client.instance_extended_description()
    assert "Vallée de l'Ouche" in description["content"]
    status, policy, _ = await _get(commune_a, "/api/v1/instance/privacy_policy")
    assert status == 200 and set(policy) == {"updated_at", "content"}
    with pytest.raises(MastodonNotFoundError):
        await client.instance_terms_of_service()
    assert await client.custom_emojis() == []
    assert await client.announcements() == []
    status, body, _ = await _get(commune_a, "/api/v1/announcements")
    assert status == 401 and "error" in body


async def test_preferences_follow_the_users_posting_defaults(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice")
    client = await mastodon_client(commune_a, alice.id)
    prefs = await client.preferences()
    assert prefs["posting:default:visibility"] == "public"
    assert prefs["posting:default:sensitive"] is False
    assert prefs["reading:expand:media"] == "default"
    assert prefs["reading:expand:spoilers"] is False
    status, _, _ = await _get(commune_a, "/api/v1/preferences")
    assert status == 401


async def test_trends_rank_this_weeks_hashtags_and_engaging_local_posts(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice")
    bernard = await make_account(commune_a, "bernard")
    post = await outbox(commune_a).publish(alice.id, html(commune_a, "Vide-grenier #Brocante"), tags=["Brocante"])
    await outbox(commune_a).publish(bernard.id, html(commune_a, "J'y vais #brocante #Marche"),
                                    tags=["brocante", "Marche"])
    quiet = await outbox(commune_a).publish(bernard.id, html(commune_a, "Personne ne réagit"))
    await outbox(commune_a).favourite(bernard.id, post.id)
    client = await mastodon_client(commune_a, alice.id)
    tags = await client.trending_tags()
    assert [t["name"] for t in tags] == ["brocante", "marche"]
    history = tags[0]["history"]
    assert len(history) == 7 and all(isinstance(day["uses"], str) for day in history)
    assert sum(int(day["uses"]) for day in history) == 2 and max(int(day["accounts"]) for day in history) >= 1
    statuses = await client.trending_statuses()
    assert [str(s["id"]) for s in statuses] == [str(post.id)]
    assert str(quiet.id) not in {str(s["id"]) for s in statuses}
    assert await client.trending_links() == []
    status, body, headers = await _get(commune_a, "/api/v1/trends/tags", params={"limit": "1"})
    assert status == 200 and [t["name"] for t in body] == ["brocante"] and "offset=1" in headers["Link"]


async def test_suggestions_put_associations_first_and_skip_followed_accounts(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice")
    club = await make_account(commune_a, "club-foot", kind="association")
    bernard = await make_account(commune_a, "bernard")
    claire = await make_account(commune_a, "claire")
    await make_account(commune_a, "dormant")  # never posted: not "active"
    await outbox(commune_a).publish(bernard.id, html(commune_a, "Bonjour"))
    await outbox(commune_a).publish(claire.id, html(commune_a, "Bonsoir"))
    await outbox(commune_a).follow(alice.id, claire.id)
    client = await mastodon_client(commune_a, alice.id)
    v2 = await client.suggestions_v2()
    assert [str(s["account"]["id"]) for s in v2] == [str(club.id), str(bernard.id)]
    assert v2[0]["source"] == "staff" and isinstance(v2[0]["sources"], list)
    v1 = await client.suggestions_v1()
    assert [str(a["id"]) for a in v1] == [str(club.id), str(bernard.id)]
    await client.suggestion_delete(bernard.id)
    assert [str(a["id"]) for a in await client.suggestions_v1()] == [str(club.id)]


async def test_directory_lists_local_accounts_and_filters_by_kind_and_commune(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice", commune_insee="21001")
    club = await make_account(commune_a, "club-foot", kind="association", commune_insee="21002")
    mairie = await make_account(commune_a, "mairie", kind="collectivity", commune_insee="21001")
    await outbox(commune_a).publish(club.id, html(commune_a, "Match samedi"))
    client = await mastodon_client(commune_a, alice.id)
    listed = await client.directory(local=True, order="active")
    ids = [str(a["id"]) for a in listed]
    assert ids[0] == str(club.id) and set(ids) == {str(alice.id), str(club.id), str(mairie.id)}
    newest = await client.directory(local=True, order="new")
    assert [str(a["id"]) for a in newest] == [str(mairie.id), str(club.id), str(alice.id)]
    status, body, _ = await _get(commune_a, "/api/v1/directory", params={"local": "true", "kind": "association"})
    assert status == 200 and [a["id"] for a in body] == [str(club.id)]
    assert body[0]["kind"] == "association"
    _, body, _ = await _get(commune_a, "/api/v1/directory", params={"commune": "21001"})
    assert {a["id"] for a in body} == {str(alice.id), str(mairie.id)}
    status, _, _ = await _get(commune_a, "/api/v1/directory", params={"order": "random"})
    assert status == 422


async def test_followed_tags_is_empty_and_scheduled_statuses_belong_to_their_author(commune_a, mastodon_client):
    alice = await make_account(commune_a, "alice")
    bernard = await make_account(commune_a, "bernard")
    when = datetime.now(UTC) + timedelta(days=2)
    async with commune_a.runtime.sessions() as session, session.begin():
        row = ScheduledStatus(actor_id=alice.id, scheduled_at=when,
                              params_json='{"text": "Conseil municipal jeudi", "visibility": "public"}')
        session.add(row)
    client = await mastodon_client(commune_a, alice.id)
    assert await client.followed_tags() == []
    listed = await client.scheduled_statuses()
    assert [str(s["id"]) for s in listed] == [str(row.id)]
    assert listed[0]["params"]["text"] == "Conseil municipal jeudi"
    assert listed[0]["media_attachments"] == []
    later = when + timedelta(days=1)
    updated = await client.scheduled_status_update(row.id, later)
    assert abs(updated["scheduled_at"].timestamp() - later.timestamp()) < 1
    token = await issue_token(commune_a, bernard.id)
    status, _, _ = await _get(commune_a, f"/api/v1/scheduled_statuses/{row.id}", token=token)
    assert status == 404
    await client.scheduled_status_delete(row.id)
    assert await client.scheduled_statuses() == []
