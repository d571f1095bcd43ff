"""Deleting an account in the domain (outbox/account_deletion.py): the actor Delete is queued for the
followers' and every known server, the posts leave tombstones, the other side's counters stay right,
the login and everything private go, the media files are removed, the username stays taken, and the
last admin of a team is asked to name another first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from actors import teams
from actors.accounts import AccountError, create_account
from actors.bookmarks import bookmark
from actors.browser_sessions import open_browser_session
from fediverse.media import create_attachment, media_storage
from fediverse.models import (
    Actor,
    Bookmark,
    BrowserSession,
    Delivery,
    Follow,
    OAuthToken,
    OutgoingActivity,
    Status,
    Tombstone,
    User,
)
from fediverse.runtime import Runtime
from outbox.account_deletion import AccountDeletion, AccountDeletionError
from outbox.commands import Outbox, StatusDraft
from outbox.profile_edit import PictureUpload, ProfileEdit, save_profile
from tests.test_export import account, png


async def remote(runtime: Runtime, username: str, domain: str) -> Actor:
    async with runtime.transaction() as session:
        actor = Actor(uri=f"https://{domain}/users/{username}", username=username, username_lower=username,
                      domain=domain, domain_key=domain, inbox_url=f"https://{domain}/users/{username}/inbox",
                      shared_inbox_url=f"https://{domain}/inbox")
        session.add(actor)
    return actor


async def user_of(runtime: Runtime, actor: Actor) -> User:
    async with runtime.sessions() as session:
        return await session.scalar(select(User).where(User.actor_id == actor.id))


async def count(runtime: Runtime, model: type, *where: object) -> int:
    async with runtime.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def test_deleting_an_account_federates_a_delete_and_removes_it_but_keeps_the_username(
        runtime: Runtime) -> None:
    alice, bob = await account(runtime, "alice"), await account(runtime, "bob")
    follower = await remote(runtime, "rosa", "commune-b.test")
    stranger = await remote(runtime, "yann", "ailleurs.test")
    outbox = Outbox(runtime)
    await save_profile(runtime, alice.id, ProfileEdit(pictures={"avatar": PictureUpload(png((1, 2, 3)))}))
    photo = await create_attachment(runtime, alice.id, png((9, 9, 9)), description="photo")
    post = await outbox.post(alice.id, StatusDraft(text="Bonjour", media_ids=[photo.id]))
    bobs = await outbox.post(bob.id, StatusDraft(text="Fête du village"))
    await outbox.post(alice.id, StatusDraft(text="J'y serai", in_reply_to_id=bobs.id))
    await outbox.favourite(alice.id, bobs.id)
    await outbox.boost(alice.id, bobs.id)
    await bookmark(runtime, alice.id, bobs.id)
    await outbox.follow(alice.id, bob.id)
    await outbox.follow(bob.id, alice.id)
    async with runtime.transaction() as session:
        session.add(Follow(uri="https://commune-b.test/follows/1", follower_id=follower.id, followee_id=alice.id,
                           state="accepted"))
        await open_browser_session(session, await session.get(User, (await user_of(runtime, alice)).id),
                                   user_agent="test", ip=None)
    async with runtime.sessions() as session:
        alice_row = await session.get(Actor, alice.id)
        files = [media_storage(runtime.settings).name_for_url(alice_row.icon_url), photo.file_name]
    media_dir = Path(runtime.settings.data_dir, "media")
    assert all((media_dir / name).is_file() for name in files if name)
    user = await user_of(runtime, alice)

    deleted = await AccountDeletion(runtime).delete_account(user.id)
    assert deleted.statuses == 2 and deleted.inboxes == 2

    async with runtime.sessions() as session:
        activity = await session.scalar(select(OutgoingActivity).where(
            OutgoingActivity.actor_id == alice.id, OutgoingActivity.activity_type == "Delete"))
        body = json.loads(activity.body)
        assert body["object"] == alice.uri and body["actor"] == alice.uri
        inboxes = set((await session.scalars(select(Delivery.inbox_url).where(
            Delivery.activity_id == activity.id))).all())
        assert inboxes == {follower.shared_inbox_url, stranger.shared_inbox_url}
        gone = await session.get(Actor, alice.id)
        assert gone.deleted_at is not None and gone.display_name == "" and gone.icon_url is None
        assert gone.private_key_pem  # the queued Delete is still signed with it
        bob_now = await session.get(Actor, bob.id)
        assert (bob_now.followers_count, bob_now.following_count) == (0, 0)
        original = await session.get(Status, bobs.id)
        assert (original.favourites_count, original.reblogs_count, original.replies_count) == (0, 0, 0)
        assert await session.get(Tombstone, post.uri) is not None
    assert await count(runtime, Status, Status.actor_id == alice.id) == 0
    assert await count(runtime, User, User.id == user.id) == 0
    assert await count(runtime, BrowserSession, BrowserSession.user_id == user.id) == 0
    assert await count(runtime, Bookmark, Bookmark.actor_id == alice.id) == 0
    assert await count(runtime, Follow, (Follow.follower_id == alice.id) | (Follow.followee_id == alice.id)) == 0
    assert not any((media_dir / name).exists() for name in files if name)
    async with runtime.transaction() as session:
        with pytest.raises(AccountError, match="already taken"):
            await create_account(session, runtime.uris, "Alice", email="new-alice@example.test",
                                 password="correct horse battery")


async def test_the_last_admin_of_a_team_must_name_another_admin_before_leaving(runtime: Runtime) -> None:
    alice, bob = await account(runtime, "alice"), await account(runtime, "bob")
    async with runtime.transaction() as session:
        club, _ = await create_account(session, runtime.uris, "club", email="club@example.test",
                                       password="correct horse battery", kind="association")
        await teams.add_member(session, club, await session.get(User, (await user_of(runtime, alice)).id), "admin",
                               active=True)
        await teams.add_member(session, club, await session.get(User, (await user_of(runtime, bob)).id), "editor",
                               active=True)
        club_id = club.id
    alice_user = await user_of(runtime, alice)
    async with runtime.sessions() as session:
        session.add(OAuthToken(token_hash="x" * 64, user_id=alice_user.id, actor_id=club_id, scopes="read"))
        await session.commit()
    with pytest.raises(AccountDeletionError) as refused:
        await AccountDeletion(runtime).delete_account(alice_user.id)
    assert [team.username for team in refused.value.teams] == ["club"]
    assert await count(runtime, User, User.id == alice_user.id) == 1  # nothing happened

    async with runtime.transaction() as session:
        await teams.change_role(session, await session.get(Actor, club_id),
                                await session.get(User, (await user_of(runtime, bob)).id), "admin")
    await AccountDeletion(runtime).delete_account(alice_user.id)
    assert await count(runtime, OAuthToken, OAuthToken.user_id == alice_user.id) == 0
    async with runtime.sessions() as session:
        assert [m.user.id for m in await teams.list_members(session, await session.get(Actor, club_id))] == [
            (await user_of(runtime, bob)).id]
