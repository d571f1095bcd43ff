"""Posts on the website, in a real headless Chromium against a live instance: the permalink shows the
post in its thread (what it answers and the replies, sharing previews, a link to its ActivityPub
representation); the like and boost buttons change the database and the counts; the follow button
follows, unfollows and asks a locked account; private posts stay invisible to whoever they are not
for; bad ids, someone else's posts and forged forms get a readable 4xx, never a 500."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import select

from fediverse.ids import new_id
from fediverse.media.attachments import create_attachment
from fediverse.models import Actor, Favourite, Follow, Status
from fediverse.sanitize import sanitize_html
from fediverse.uris import PUBLIC
from outbox.commands import Outbox
from tests.federation_steps import count, make_account, outbox
from tests.live import LiveInstance
from tests.web.a11y import DESKTOP, axe_violations, horizontal_overflow
from tests.web.conftest import PHONE, new_page, sign_in
from tests.web.social_steps import anonymous_client, photo, post, queued, remote_follower, signed_client
from tests.web.test_neighbourhood_pages import signed_in_context


async def _neighbours(make_instance: Any) -> tuple[LiveInstance, Actor, Actor, Actor]:
    instance = await make_instance("commune-a.test")
    alice = await make_account(instance, "alice", display_name="Alice Martin")
    bob = await make_account(instance, "bob", display_name="Bob Leroy")
    carol = await make_account(instance, "carol", display_name="Carole Petit")
    return instance, alice, bob, carol


async def _click(page: Any, selector: str) -> Any:
    async with page.expect_navigation() as navigation:
        await page.click(selector)
    return await navigation.value


async def _meta(page: Any, selector: str, attribute: str = "content") -> str | None:
    return await page.locator(selector).first.get_attribute(attribute)


async def test_a_thread_page_shows_the_reply_chain_and_the_buttons_like_and_boost(make_instance, browser) -> None:
    instance, alice, bob, carol = await _neighbours(make_instance)
    question = await post(instance, alice, "Qui a vu le chat roux de la rue du Stade ?")
    answer = await post(instance, bob, "@alice Il était devant la boulangerie ce matin.",
                        in_reply_to_id=question.id)
    thanks = await post(instance, carol, "@bob Je l'ai vu aussi, il allait vers l'église.", in_reply_to_id=answer.id)

    visitor = await new_page(browser)
    response = await visitor.goto(f"{instance.base_url}/@bob/{answer.id}")
    assert response.status == 200
    main = await visitor.inner_text("main")
    in_order = ("Qui a vu le chat roux", "devant la boulangerie", "allait vers l'église")
    assert [main.index(text) for text in in_order] == sorted(main.index(text) for text in in_order)
    assert "devant la boulangerie" in await visitor.inner_text("article.focus")
    assert "Bob Leroy" in await visitor.title()
    assert await _meta(visitor, "meta[property='og:description']") == "@alice Il était devant la boulangerie ce matin."
    assert await _meta(visitor, "meta[property='og:title']") == "Bob Leroy (@bob@commune-a.test)"
    assert await _meta(visitor, "link[rel=alternate][type='application/activity+json']", "href") == answer.uri
    assert "1 réponse" in await visitor.inner_text("#replies-title")
    assert await visitor.locator("form[action$='/favourite']").count() == 0  # no buttons for visitors
    assert await visitor.locator(f"#status-{thanks.id}.reply").count() == 1

    page = await new_page(browser)
    await sign_in(page, instance, "carol", next_path=f"%2F%40alice%2F{question.id}")
    card = f"#status-{question.id}"
    assert "0 j’aime" in await page.inner_text(f"{card} .counts")
    await _click(page, f"{card} form[action='/statuses/{question.id}/favourite'] button")
    assert page.url.endswith(f"/@alice/{question.id}#status-{question.id}")
    assert await count(instance, Favourite, Favourite.actor_id == carol.id, Favourite.status_id == question.id) == 1
    assert "1 j’aime" in await page.inner_text(f"{card} .counts")
    assert "Vous aimez cette publication." in await page.inner_text(card)

    await _click(page, f"{card} form[action='/statuses/{question.id}/reblog'] button")
    assert await count(instance, Status, Status.actor_id == carol.id, Status.reblog_of_id == question.id) == 1
    assert "1 partage" in await page.inner_text(f"{card} .counts")
    assert await page.locator(f"{card} form[action='/statuses/{question.id}/unreblog']").count() == 1

    await _click(page, f"{card} form[action='/statuses/{question.id}/unfavourite'] button")
    await _click(page, f"{card} form[action='/statuses/{question.id}/unreblog'] button")
    assert await count(instance, Favourite, Favourite.status_id == question.id) == 0
    assert await count(instance, Status, Status.reblog_of_id == question.id) == 0
    assert "0 j’aime" in await page.inner_text(f"{card} .counts")
    assert "0 partage" in await page.inner_text(f"{card} .counts")

    # Replying from the thread: the form names who is answered and starts with their handle.
    await _click(page, f"{card} a[href='/statuses/new?in_reply_to={question.id}']")
    assert "Qui a vu le chat roux" in await page.inner_text(".in-reply-to")
    assert await page.input_value("#compose-text") == "@alice "
    await page.fill("#compose-text", "@alice Il est rentré chez vous ?")
    await _click(page, "form[action='/statuses'] button[type=submit]")
    reply = (await _statuses(instance, carol))[-1]
    assert reply.in_reply_to_id == question.id and reply.visibility == "public"
    assert page.url == f"{instance.base_url}/@carol/{reply.id}"
    assert "Qui a vu le chat roux" in await page.inner_text(".ancestors")
    await page.set_viewport_size(PHONE)
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


async def _statuses(instance: LiveInstance, author: Actor) -> list[Status]:
    async with instance.runtime.sessions() as session:
        return list((await session.scalars(select(Status).where(
            Status.actor_id == author.id, Status.reblog_of_id.is_(None)).order_by(Status.id))).all())


async def test_the_follow_button_follows_unfollows_and_asks_a_locked_account(make_instance, browser) -> None:
    instance, alice, bob, carol = await _neighbours(make_instance)
    async with instance.runtime.transaction() as session:
        (await session.get(Actor, carol.id)).manually_approves_followers = True
    hello = await post(instance, alice, "Bonjour le quartier")
    closed = await post(instance, carol, "Mon compte est sur invitation")
    page = await new_page(browser)
    await sign_in(page, instance, "bob", next_path=f"%2F%40alice%2F{hello.id}")
    await _click(page, ".author-follow form[action='/@alice/follow'] button")
    follow = await _follow(instance, bob, alice)
    assert follow is not None and follow.state == "accepted"
    assert page.url.endswith(f"/@alice/{hello.id}")
    assert "Vous suivez Alice Martin." in await page.inner_text(".author-follow")
    await _click(page, ".author-follow form[action='/@alice/unfollow'] button")
    assert await _follow(instance, bob, alice) is None
    assert await page.locator(".author-follow form[action='/@alice/follow']").count() == 1

    await page.goto(f"{instance.base_url}/@carol/{closed.id}")
    assert "Demander à suivre" in await page.inner_text(".author-follow")
    await _click(page, ".author-follow form[action='/@carol/follow'] button")
    assert (await _follow(instance, bob, carol)).state == "pending"
    assert "en attente" in await page.inner_text(".author-follow")
    await _click(page, ".author-follow form[action='/@carol/unfollow'] button")  # withdraws the request
    assert await _follow(instance, bob, carol) is None

    # Without JavaScript nor a session, the button leads to the sign-in page.
    visitor = await new_page(browser, java_script_enabled=False)
    await visitor.goto(f"{instance.base_url}/@alice/{hello.id}")
    assert await visitor.locator(".author-follow").count() == 0
    async with anonymous_client(instance) as anonymous:
        status, _, location = await anonymous.post("/@alice/follow", {"next": f"/@alice/{hello.id}"})
    assert status == 303 and location.startswith("/auth/sign_in?next=")


async def _follow(instance: LiveInstance, follower: Actor, followee: Actor) -> Follow | None:
    async with instance.runtime.sessions() as session:
        return await session.scalar(select(Follow).where(Follow.follower_id == follower.id,
                                                         Follow.followee_id == followee.id))


async def test_private_posts_are_not_found_by_whoever_they_are_not_for(make_instance) -> None:
    instance, alice, bob, carol = await _neighbours(make_instance)
    secret = await post(instance, alice, "@bob Le code du portail est 1234", visibility="direct")
    followers_only = await post(instance, alice, "Réunion des voisins jeudi", visibility="private")
    async with signed_client(instance, bob) as bob_http:
        assert (await bob_http.post("/@alice/follow"))[0] == 303
        status, page = await bob_http.get(f"/@alice/{secret.id}")
        assert status == 200 and "Le code du portail est 1234" in page and "Message privé" in page
        assert (await bob_http.get(f"/@alice/{followers_only.id}"))[0] == 200
    async with anonymous_client(instance) as anonymous:
        for hidden in (secret, followers_only):
            status, page = await anonymous.get(f"/@alice/{hidden.id}")
            assert status == 404 and "Page introuvable" in page and "1234" not in page
        assert (await anonymous.get(f"/statuses/{secret.id}"))[0] == 404
    async with signed_client(instance, carol) as carol_http:
        for hidden in (secret, followers_only):
            status, page = await carol_http.get(f"/@alice/{hidden.id}")
            assert status == 404 and "1234" not in page
        # Nor can a third person act on it, reply to it or see it in a thread.
        assert (await carol_http.post(f"/statuses/{secret.id}/favourite"))[0] == 404
        assert (await carol_http.get(f"/statuses/new?in_reply_to={secret.id}"))[0] == 404
    assert await count(instance, Favourite) == 0
    async with signed_client(instance, alice) as alice_http:
        assert (await alice_http.get(f"/@alice/{secret.id}"))[0] == 200


async def test_bad_ids_foreign_posts_and_forged_forms_get_a_readable_refusal(make_instance) -> None:
    instance, alice, bob, _carol = await _neighbours(make_instance)
    mine = await post(instance, alice, "Vide-grenier dimanche")
    theirs = await post(instance, bob, "Perdu un trousseau de clés")
    async with signed_client(instance, alice) as http:
        for path in (f"/@alice/{theirs.id}", "/@alice/99999999999999999999999", "/@nobody/1", "/statuses/0",
                     f"/statuses/{theirs.id}/edit", f"/statuses/{theirs.id}/delete", "/statuses/new?in_reply_to=abc",
                     "/statuses/new?in_reply_to=99999999999999999999", "/conversations/12345"):
            status, page = await http.get(path)
            assert status == 404 and "Page introuvable" in page, path
        status, page = await http.get("/conversations?max_id=abc")
        assert status == 400 and "role=\"alert\"" in page
        for path in (f"/statuses/{theirs.id}/delete", "/statuses/99999999999999999999/favourite",
                     "/statuses/0/reblog", "/@nobody/follow", "/accounts/123/follow", "/notifications/123/dismiss"):
            assert (await http.post(path))[0] == 404, path
        status, page, _ = await http.post(f"/statuses/{theirs.id}/favourite", csrf="forged")
        assert status == 403 and "a expiré" in page
        status, page, _ = await http.post(f"/statuses/{mine.id}/delete", csrf="")
        assert status == 403
        status, page, _ = await http.post("/@alice/follow")
        assert status == 422 and "vous suivre vous-même" in page
        status, page, location = await http.post(f"/statuses/{theirs.id}/favourite",
                                                 {"next": "https://evil.example/"})
        assert status == 303 and location == f"/@bob/{theirs.id}"
    assert await count(instance, Status, Status.id.in_([mine.id, theirs.id])) == 2
    assert await count(instance, Favourite, Favourite.status_id == theirs.id) == 1


async def test_the_social_pages_have_no_serious_accessibility_violation_on_phone_and_desktop(
        make_instance, browser) -> None:
    instance, alice, bob, _carol = await _neighbours(make_instance)
    upload = await create_attachment(instance.runtime, alice.id, photo((90, 140, 200)), filename="lavoir.png",
                                     description="Le lavoir restauré au bord du Couesnon")
    hello = await post(instance, alice, "Le lavoir est restauré !", media_ids=[upload.id], spoiler_text="Travaux")
    await post(instance, bob, "@alice Bravo aux bénévoles", in_reply_to_id=hello.id)
    await post(instance, bob, "@alice On se retrouve au lavoir samedi ?", visibility="direct")
    await Outbox(instance.runtime).favourite(bob.id, hello.id)
    await Outbox(instance.runtime).follow(bob.id, alice.id)
    context = await signed_in_context(browser, instance, alice, bypass_csp=True)
    page = await context.new_page()
    await page.goto(f"{instance.base_url}/conversations")
    conversation = await page.locator(".conversation-list a").first.get_attribute("href")
    paths = [f"/@alice/{hello.id}", f"/statuses/new?in_reply_to={hello.id}", f"/statuses/{hello.id}/edit",
             f"/statuses/{hello.id}/delete", "/conversations", conversation, "/conversations/new?to=@bob",
             "/notifications", "/notifications/clear"]
    problems: list[str] = []
    for viewport in (DESKTOP, PHONE):
        await page.set_viewport_size(viewport)
        for path in paths:
            response = await page.goto(instance.base_url + path)
            where = f"{path} at {viewport['width']} px"
            if response.status != 200:
                problems.append(f"{where}: HTTP {response.status}")
                continue
            problems += [f"{where}: {violation.describe()}" for violation in await axe_violations(page)]
            problems += [f"{where}: wider than the screen: {element}" for element in await horizontal_overflow(page)]
    await context.close()
    assert not problems, "\n".join(problems)


async def test_a_remote_post_is_read_here_and_the_like_goes_to_its_server(make_instance) -> None:
    instance, alice, _bob, _carol = await _neighbours(make_instance)
    lea = await remote_follower(instance, alice)
    async with instance.runtime.transaction() as session:
        remote_post = Status(id=new_id(), uri=f"{lea.uri}/statuses/1", url=f"{lea.url}/1", actor_id=lea.id,
                             local=False, visibility="public", to_json=json.dumps([PUBLIC]),
                             content=sanitize_html('<p>Marché bio à Fougères <script>alert(1)</script></p>'))
        session.add(remote_post)
    async with anonymous_client(instance) as anonymous:
        status, page = await anonymous.get(f"/statuses/{remote_post.id}")
        assert status == 200 and "Marché bio à Fougères" in page and "<script>alert" not in page
        assert f'href="{lea.url}/1"' in page  # the original, on its server
        assert f'href="/@{lea.username}@{lea.domain}"' in page  # her page here
    async with signed_client(instance, alice) as http:
        status, _, location = await http.post(f"/statuses/{remote_post.id}/favourite")
        assert status == 303 and location == f"/statuses/{remote_post.id}"
        status, page = await http.get(location)
        assert "1 j’aime" in page and "Ne plus aimer" in page
        status, _, location = await http.post(f"/accounts/{lea.id}/follow", {"next": f"/statuses/{remote_post.id}"})
        assert status == 303 and location == f"/statuses/{remote_post.id}"
    assert lea.shared_inbox_url in await queued(instance, "Like", remote_post.uri)
    assert lea.inbox_url in await queued(instance, "Follow", lea.uri)
    assert (await _follow(instance, alice, lea)).state == "pending"  # until Léa's server accepts


async def test_the_same_like_sent_twice_at_once_is_one_like_and_never_an_error(make_instance) -> None:
    instance = await make_instance("commune-a.test")
    alice = await make_account(instance, "alice")
    bob = await make_account(instance, "bob")
    status = await post(instance, alice, "Marché de Noël samedi")
    likes = await asyncio.gather(*(outbox(instance).favourite(bob.id, status.id) for _ in range(8)))
    assert len({like.id for like in likes}) == 1
    async with instance.runtime.sessions() as session:
        assert (await session.get(Status, status.id)).favourites_count == 1
