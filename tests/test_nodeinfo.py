"""NodeInfo discovery and documents: shape, content types and real usage counts."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

import actors.accounts
import fediverse
from actors.accounts import create_account, ensure_instance_actor
from fediverse import SOFTWARE_NAME, __version__
from fediverse.db import utcnow
from fediverse.ids import new_id
from fediverse.keys import generate_rsa_keypair
from fediverse.models import Actor, Status
from fediverse.runtime import Runtime
from tests.test_webfinger import Reply, asgi_get, discovery_app
from webfinger.routes import count_usage

SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/"


@pytest.fixture(scope="session")
def _keypair() -> tuple[str, str]:
    return generate_rsa_keypair()


@pytest.fixture(autouse=True)
def fast_accounts(monkeypatch: pytest.MonkeyPatch, _keypair: tuple[str, str]) -> None:
    """Counting never uses keys or passwords: skip RSA generation and argon2."""
    monkeypatch.setattr(actors.accounts, "generate_rsa_keypair", lambda: _keypair)
    monkeypatch.setattr(actors.accounts, "hash_password", lambda password: "not-a-hash")


async def get(runtime: Runtime, path: str) -> Reply:
    return await asgi_get(discovery_app(runtime), path)


async def populate(runtime: Runtime) -> None:
    """Three counted accounts with different activity, plus everything that must not count.

    alice: logged in yesterday and posted today; bob: never logged in, posted 100 days ago;
    carol: logged in 300 days ago. Not counted: a suspended account, the instance actor, a
    remote actor. Posts: alice's and bob's count; alice's boost and a remote post do not.
    """
    now = utcnow()
    long_ago = now - timedelta(days=100)
    async with runtime.sessions() as session, session.begin():
        alice, alice_user = await create_account(session, runtime.uris, "alice", email="a@example.org",
                                                 password="correct horse")
        bob, _ = await create_account(session, runtime.uris, "bob", email="b@example.org",
                                      password="correct horse")
        _carol, carol_user = await create_account(session, runtime.uris, "carol", email="c@example.org",
                                                  password="correct horse")
        suspended, suspended_user = await create_account(session, runtime.uris, "suspendu",
                                                         email="s@example.org", password="correct horse")
        await ensure_instance_actor(session, runtime.uris)
        alice_user.last_login_at = now - timedelta(days=1)
        carol_user.last_login_at = now - timedelta(days=300)
        suspended.suspended_at = now
        suspended_user.last_login_at = now
        remote = Actor(uri="https://remote.example/users/zoe", username="zoe", username_lower="zoe",
                       domain="remote.example", domain_key="remote.example",
                       inbox_url="https://remote.example/users/zoe/inbox")
        session.add(remote)
        await session.flush()
        post = Status(uri=runtime.uris.status("alice", 1), actor_id=alice.id, local=True, content="Salut")
        session.add(post)
        await session.flush()
        session.add_all([
            Status(id=new_id(at=long_ago.timestamp()), uri=runtime.uris.status("bob", 2), actor_id=bob.id,
                   local=True, content="<p>Ancien</p>", published=long_ago),
            Status(uri=runtime.uris.status("alice", 3), actor_id=alice.id, local=True, reblog_of_id=post.id),
            Status(uri="https://remote.example/notes/1", actor_id=remote.id, local=False, content="Hi"),
        ])


async def test_discovery(runtime: Runtime) -> None:
    reply = await get(runtime, "/.well-known/nodeinfo")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.headers["access-control-allow-origin"] == "*"
    assert reply.json() == {"links": [
        {"rel": SCHEMA + "2.0", "href": "https://commune-a.test/nodeinfo/2.0"},
        {"rel": SCHEMA + "2.1", "href": "https://commune-a.test/nodeinfo/2.1"},
        # FEP-2677: the instance actor, for neighbours and relays
        {"rel": "https://www.w3.org/ns/activitystreams#Application", "href": "https://commune-a.test/actor"},
    ]}


@pytest.mark.parametrize("version", ["2.0", "2.1"])
async def test_empty_database(runtime: Runtime, version: str) -> None:
    reply = await get(runtime, f"/nodeinfo/{version}")
    assert reply.status == 200
    assert reply.headers["content-type"] == f'application/json; profile="{SCHEMA}{version}#"'
    assert reply.headers["access-control-allow-origin"] == "*"
    doc = reply.json()
    assert doc["version"] == version
    assert doc["usage"] == {"users": {"total": 0, "activeMonth": 0, "activeHalfyear": 0}, "localPosts": 0}


@pytest.mark.parametrize("version", ["2.0", "2.1"])
async def test_document_with_real_counts(runtime: Runtime, version: str) -> None:
    await populate(runtime)
    doc = (await get(runtime, f"/nodeinfo/{version}")).json()
    assert doc["software"]["name"] == SOFTWARE_NAME
    assert doc["software"]["version"] == __version__
    assert doc["protocols"] == ["activitypub"]
    assert doc["services"] == {"inbound": [], "outbound": []}
    assert doc["openRegistrations"] is False  # the default registration mode is "approval"
    assert doc["usage"] == {"users": {"total": 3, "activeMonth": 1, "activeHalfyear": 2}, "localPosts": 2}
    assert doc["metadata"] == {"nodeName": "commune-a.test", "territory": {"name": "commune-a.test"},
                               "language": "fr"}
    allowed = {"name", "version"} | ({"repository", "homepage"} if version == "2.1" else set())
    assert set(doc["software"]) <= allowed


async def test_two_accounts_and_one_post(runtime: Runtime) -> None:
    """The plain case: two fresh accounts that never logged in, one local post by the first."""
    async with runtime.sessions() as session, session.begin():
        first, _ = await create_account(session, runtime.uris, "un", email="1@example.org", password="x" * 8)
        await create_account(session, runtime.uris, "deux", email="2@example.org", password="x" * 8)
        await ensure_instance_actor(session, runtime.uris)
        session.add(Status(uri=runtime.uris.status("un", 1), actor_id=first.id, local=True, content="salut"))
    usage = (await get(runtime, "/nodeinfo/2.1")).json()["usage"]
    assert usage == {"users": {"total": 2, "activeMonth": 1, "activeHalfyear": 1}, "localPosts": 1}


async def test_counting_is_two_queries(runtime: Runtime) -> None:
    await populate(runtime)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", record)
    try:
        usage = await count_usage(runtime)
    finally:
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", record)
    assert (usage.total, usage.active_month, usage.active_halfyear, usage.local_posts) == (3, 1, 2, 2)
    assert len(statements) == 2


@pytest.mark.parametrize(("registration", "expected"), [
    ("open", True), ("approval", False), ("invite", False), ("closed", False),
])
async def test_open_registrations(runtime: Runtime, registration: str, expected: bool) -> None:
    custom = replace(runtime, settings=replace(runtime.settings, registration=registration))
    for version in ("2.0", "2.1"):
        assert (await get(custom, f"/nodeinfo/{version}")).json()["openRegistrations"] is expected


async def test_names_and_language(runtime: Runtime) -> None:
    settings = replace(runtime.settings, instance_name="Fédivers de Saint-Machin",
                       territory_name="Communauté de communes du Val", language="br")
    meta = (await get(replace(runtime, settings=settings), "/nodeinfo/2.0")).json()["metadata"]
    assert meta == {"nodeName": "Fédivers de Saint-Machin",
                    "territory": {"name": "Communauté de communes du Val"}, "language": "br"}
    settings = replace(settings, territory_name="")
    meta = (await get(replace(runtime, settings=settings), "/nodeinfo/2.1")).json()["metadata"]
    assert meta["territory"] == {"name": "Fédivers de Saint-Machin"}


async def test_software_links_in_2_1_only(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fediverse, "SOFTWARE_REPOSITORY", "https://git.example/fediverse", raising=False)
    monkeypatch.setattr(fediverse, "SOFTWARE_HOMEPAGE", "https://fediverse.example", raising=False)
    software = (await get(runtime, "/nodeinfo/2.1")).json()["software"]
    assert software == {"name": SOFTWARE_NAME, "version": __version__,
                        "repository": "https://git.example/fediverse", "homepage": "https://fediverse.example"}
    assert (await get(runtime, "/nodeinfo/2.0")).json()["software"] == {"name": SOFTWARE_NAME,
                                                                         "version": __version__}


async def test_unknown_schema_version(runtime: Runtime) -> None:
    reply = await get(runtime, "/nodeinfo/1.0")
    assert reply.status == 404
    assert reply.json()["error"]
