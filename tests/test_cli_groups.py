"""`fediverse groups ...` as an administrator runs it (through `fediverse.cli.main`), on a real data directory:
creating and listing groups, and moderation that queues `Undo(Announce)` / `Reject(Follow)` for delivery."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from fediverse.cli import main
from fediverse.config import load_settings
from fediverse.db import create_engine, session_factory
from fediverse.models import Actor, Delivery, Follow, OutgoingActivity, Status
from fediverse.runtime import Runtime
from fediverse.uris import PUBLIC, Uris
from outbox.commands import Outbox
from outbox.groups import group_member_inboxes_for, reshare_remote_post

REMOTE_INBOX = "https://commune-b.test/inbox"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import os

    for key in [k for k in os.environ if k.startswith("FEDIVERSE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("FEDIVERSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FEDIVERSE_DOMAIN", "commune-a.test")
    assert main(["accounts", "create", "maelle", "--email", "maelle@commune-a.test", "--password", "12345678"]) == 0
    return tmp_path


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _with_runtime(work: Callable[[Runtime], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        settings = load_settings()
        engine = create_engine(settings.database_url)
        try:
            return await work(Runtime(settings=settings, engine=engine, sessions=session_factory(engine),
                                      uris=Uris(settings)))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_create_list_and_members(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "groups", "create", "parents", "--owner", "maelle", "--approval",
                        "--display-name", "Parents de CE2")
    assert code == 0 and "https://commune-a.test/users/parents" in out and "moderators approve" in out
    assert _cli(capsys, "groups", "create", "conseil", "--owner", "@maelle", "--members-only")[0] == 0
    code, out, _ = _cli(capsys, "groups", "list", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["parents"] == {"name": "parents", "display_name": "Parents de CE2",
                               "uri": "https://commune-a.test/users/parents", "visibility": "public",
                               "approval": True, "commune": None, "members": 0, "moderators": ["maelle"]}
    assert (rows["conseil"]["visibility"], rows["conseil"]["approval"]) == ("members", False)
    code, out, _ = _cli(capsys, "groups", "members", "parents", "--json")
    assert json.loads(out) == [{"handle": "maelle@commune-a.test", "role": "admin"}]
    code, out, _ = _cli(capsys, "groups", "list")
    assert code == 0 and out.splitlines()[0].startswith("conseil")


@pytest.mark.parametrize(("args", "message"), [
    (["groups", "create", "parents", "--owner", "nobody"], "owner: no local user 'nobody'"),
    (["groups", "create", "no spaces", "--owner", "maelle"], "group name"),
    (["groups", "create", "maelle", "--owner", "maelle"], "already taken"),
    (["groups", "create", "inbox", "--owner", "maelle"], "reserved"),
    (["groups", "create", "club", "--owner", "maelle", "--commune", "99999"], "not a commune"),
    (["groups", "members", "maelle"], "no local group 'maelle'"),
    (["groups", "remove-member", "ghosts", "x@commune-b.test"], "no local group"),
])
def test_bad_input_is_refused_with_a_clear_error(data_dir: Path, capsys: pytest.CaptureFixture[str],
                                                 args: list[str], message: str) -> None:
    code, _, err = _cli(capsys, *args)
    assert code == 2 and "error: " in err and message in err, err
    assert "Traceback" not in err


def test_remove_post_and_member_queue_undo_and_reject(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(capsys, "groups", "create", "parents", "--owner", "maelle")[0] == 0

    async def remote_member_posts(runtime: Runtime) -> str:
        async with runtime.transaction() as session:
            group = await session.scalar(select(Actor).where(Actor.username == "parents"))
            bob = Actor(uri="https://commune-b.test/users/bob", username="bob", username_lower="bob",
                        domain="commune-b.test", domain_key="commune-b.test",
                        inbox_url="https://commune-b.test/users/bob/inbox", shared_inbox_url=REMOTE_INBOX)
            session.add(bob)
            await session.flush()
            session.add(Follow(uri="https://commune-b.test/follows/1", follower_id=bob.id, followee_id=group.id,
                               state="accepted"))
            post = Status(uri="https://commune-b.test/users/bob/statuses/1", actor_id=bob.id, visibility="public",
                          content="<p>Réunion</p>", to_json=json.dumps([PUBLIC]), cc_json=json.dumps([group.uri]))
            session.add(post)
            await session.flush()
            post_id, uri = post.id, post.uri
        assert [g.username for g in await reshare_remote_post(Outbox(runtime), post_id)] == ["parents"]
        async with runtime.sessions() as session:  # an Update or Delete of the post would reach the members
            assert await group_member_inboxes_for(session, await session.get(Status, post_id)) == [REMOTE_INBOX]
        return uri

    post_uri = _with_runtime(remote_member_posts)
    code, out, _ = _cli(capsys, "groups", "members", "parents")
    assert "bob@commune-b.test" in out and "member" in out

    code, out, err = _cli(capsys, "groups", "remove-post", "parents", post_uri)
    assert code == 0, err
    code, _, err = _cli(capsys, "groups", "remove-post", "parents", post_uri)
    assert code == 2 and "has not shared" in err
    code, _, err = _cli(capsys, "groups", "remove-member", "parents", "bob@commune-b.test")
    assert code == 0, err
    code, _, err = _cli(capsys, "groups", "remove-member", "parents", "bob@commune-b.test")
    assert code == 2 and "not a member of parents" in err

    async def state(runtime: Runtime) -> tuple[int, int, list[tuple[str, str]]]:
        async with runtime.sessions() as session:
            boosts = await session.scalar(select(func.count()).select_from(Status).where(
                Status.reblog_of_id.is_not(None)))
            follows = await session.scalar(select(func.count()).select_from(Follow))
            sent = (await session.execute(select(OutgoingActivity.body, Delivery.inbox_url).join(
                Delivery, Delivery.activity_id == OutgoingActivity.id).order_by(OutgoingActivity.id))).all()
        return boosts or 0, follows or 0, [(json.loads(body)["type"], inbox) for body, inbox in sent]

    boosts, follows, sent = _with_runtime(state)
    assert (boosts, follows) == (0, 0)
    kinds = [kind for kind, _ in sent]
    assert sorted(kinds) == ["Announce", "Reject", "Undo"]
    assert {inbox for _, inbox in sent} == {REMOTE_INBOX, "https://commune-b.test/users/bob/inbox"}
