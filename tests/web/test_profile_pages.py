"""Account pages in a real headless Chromium against live instances: an association's profile (team,
photos, PDF documents, upcoming events, news, feeds), a team member publishing a PDF from it, a
resident's profile with what each reader may see and its pages of posts, a remote account shown
through a local page, the profile in English, and readable 404/400 pages for bad addresses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import feedparser
from sqlalchemy import select

from actors.teams import add_member
from fediverse.db import utcnow
from fediverse.models import Actor, Attachment, Follow, Status, TeamAction
from fediverse.web import profile_pages
from tests.federation_steps import first, make_account, outbox, remote_actor
from tests.live import LiveInstance, eventually
from tests.test_locations import with_territory
from tests.web import directory_steps as steps
from tests.web.conftest import PHONE, csrf_token, new_page, sign_in

AS_JSON = "application/activity+json"


async def _club(make_instance: Any) -> tuple[LiveInstance, dict[str, Any]]:
    instance = await with_territory(await make_instance("commune-a.test"))
    people = {
        "club": await make_account(instance, "club_de_foot", kind="association", display_name="Club de foot",
                                   commune_insee="35257", theme="sport"),
        "alice": await make_account(instance, "alice", display_name="Alice Martin", commune_insee="35257"),
        "bob": await make_account(instance, "bob", display_name="Bob Leroy", commune_insee="35071"),
        "invited": await make_account(instance, "camille", display_name="Camille Invitée"),
    }
    await steps.join_team(instance, people["club"], people["alice"], "admin")
    await steps.join_team(instance, people["club"], people["bob"])
    async with instance.runtime.transaction() as session:  # invited, not yet a member: not shown
        await add_member(session, await session.get(Actor, people["club"].id),
                         await steps.user_of(instance, people["invited"]), "editor")
    await steps.update_actor(instance, people["club"], summary="<p>Le club de football des jeunes.</p>",
                             verified_at=utcnow(),
                             fields_json=json.dumps([
                                 {"name": "Site", "value": '<a href="https://club.example">club.example</a>'},
                                 {"name": "Piège", "value": "<script>alert(1)</script>ok"}]))
    return instance, people


async def _act_as(page: Any, account: Any) -> None:
    await page.select_option("#identity-switch", str(account.id))
    async with page.expect_navigation():
        await page.click("header >> text=Changer d’identité")


async def test_an_association_profile_shows_its_team_photos_documents_and_events_and_its_team_publishes_a_pdf(
        make_instance, browser, tmp_path: Path) -> None:
    instance, people = await _club(make_instance)
    club = people["club"]
    await steps.post(instance, club, "Bienvenue sur la page du club ! #foot")
    await steps.post_with_file(instance, club, "Photo de l'équipe", steps.png_bytes("blue"), "L'équipe des U11")
    await steps.event(instance, club, "Tournoi des jeunes", days=12)
    await steps.event(instance, people["alice"], "Vide-grenier d'Alice", days=5)  # someone else's event

    visitor = await new_page(browser)
    await visitor.goto(f"{instance.base_url}/@club_de_foot")
    assert await visitor.title() == "Club de foot (@club_de_foot@commune-a.test) · commune-a.test"
    header = await visitor.inner_text("header.profile-header")
    for words in ("Club de foot", "@club_de_foot@commune-a.test", "Association", "Maen Roch", "Sport",
                  "Le club de football des jeunes.", "club.example", "Compte vérifié",
                  "L’administration de commune-a.test a vérifié que ce compte est bien celui qu’il prétend être."):
        assert words in header
    assert "alert(1)" not in await visitor.content()  # field values are sanitized
    follow = visitor.locator("header.profile-header a.follow")  # a visitor signs in to follow, then comes back
    assert (await follow.get_attribute("href")).startswith("/auth/sign_in?next=/%40club_de_foot")
    team = await visitor.inner_text("section[aria-labelledby=team-title]")
    assert "Alice Martin" in team and "Bob Leroy" in team and "Camille" not in team
    events = await visitor.inner_text("section[aria-labelledby=events-title]")
    assert "Tournoi des jeunes" in events and "Vide-grenier" not in events
    photo = visitor.locator("section[aria-labelledby=photos-title] img")
    assert await photo.get_attribute("alt") == "L'équipe des U11"
    assert "Aucun document" in await visitor.inner_text("section[aria-labelledby=documents-title]")
    assert "Bienvenue sur la page du club" in await visitor.inner_text("section[aria-labelledby=news-title]")
    alternates = {await link.get_attribute("type"): await link.get_attribute("href")
                  for link in await visitor.locator("link[rel=alternate]").all()}
    assert alternates == {AS_JSON: club.uri, "application/rss+xml": "/@club_de_foot.rss",
                          "text/calendar": "/@club_de_foot/agenda.ics"}
    assert await visitor.locator("meta[property='og:description']").get_attribute("content") == \
        "Le club de football des jeunes."
    assert await visitor.locator("meta[property='og:type']").get_attribute("content") == "profile"

    member = await new_page(browser)
    await sign_in(member, instance, "bob")
    await _act_as(member, club)
    await member.goto(f"{instance.base_url}/@club_de_foot")
    await member.click("section[aria-labelledby=documents-title] >> text=Publier un document")
    await member.wait_for_url("**/@club_de_foot/documents")
    await member.set_input_files("#document-file", files=[{"name": "cr.pdf", "mimeType": "application/pdf",
                                                           "buffer": steps.pdf_bytes()}])
    await member.fill("#document-title", "Compte rendu de l'assemblée générale")
    await member.fill("#document-text", "Merci à tous pour votre présence.")
    async with member.expect_navigation():
        await member.click("form.document-form button[type=submit]")
    assert member.url.endswith("/@club_de_foot/documents?published=1")
    assert "Le document a été publié." in await member.inner_text("[role=status]")
    link = member.locator("ul.documents a.document-link")
    assert await link.inner_text() == "Compte rendu de l'assemblée générale"
    assert "document PDF, 1 ko" in await member.inner_text("ul.documents")
    href = await link.get_attribute("href")
    assert href.startswith(f"{instance.base_url}/media/") and href.endswith(".pdf")
    status, body, headers = await steps.get(instance, href.removeprefix(instance.base_url))
    assert status == 200 and body.startswith("%PDF-1.4")
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"].startswith('attachment; filename="')
    assert headers["X-Content-Type-Options"] == "nosniff"
    document_post = await first(instance, select(Status).join(Attachment, Attachment.status_id == Status.id)
                                .where(Attachment.media_type == "application/pdf"))
    assert document_post.actor_id == club.id and document_post.visibility == "public"
    assert "Merci à tous" in document_post.content
    # The team's log names the member who published as the association.
    assert await first(instance, select(TeamAction.user_id).where(TeamAction.object_uri == document_post.uri)) == \
        (await steps.user_of(instance, people["bob"])).id
    status_doc = await steps.get(instance, f"/users/club_de_foot/statuses/{document_post.id}",
                                 headers={"Accept": AS_JSON})
    assert '"mediaType": "application/pdf"' in status_doc[1] or '"mediaType":"application/pdf"' in status_doc[1]

    # Not a PDF, a broken PDF, no title: refused with the reason, and nothing published.
    token = await csrf_token(member)
    base = {"csrf_token": token, "acting_id": str(club.id), "title": "Affiche"}
    for upload, words in (({"name": "affiche.png", "mimeType": "application/pdf", "buffer": steps.png_bytes()},
                           "Seuls des documents PDF peuvent être publiés ici"),
                          ({"name": "coupé.pdf", "mimeType": "application/pdf", "buffer": steps.pdf_bytes()[:200]},
                           "Ce document PDF est incomplet"),
                          ({"name": "texte.pdf", "mimeType": "application/pdf", "buffer": b"hello"},
                           "Ce fichier n’est pas un document PDF.")):
        refused = await member.request.post(f"{instance.base_url}/statuses/documents",
                                            multipart={**base, "document": upload}, max_redirects=0)
        assert refused.status == 422 and words in await refused.text()
    untitled = await member.request.post(f"{instance.base_url}/statuses/documents", max_redirects=0,
                                         multipart={**base, "title": " ", "document": {
                                             "name": "cr.pdf", "mimeType": "application/pdf",
                                             "buffer": steps.pdf_bytes()}})
    assert untitled.status == 422 and "Donnez un titre au document" in await untitled.text()
    forged = await member.request.post(f"{instance.base_url}/statuses/documents", max_redirects=0,
                                       multipart={**base, "csrf_token": "forged", "document": {
                                           "name": "cr.pdf", "mimeType": "application/pdf",
                                           "buffer": steps.pdf_bytes()}})
    assert forged.status == 403
    assert len(await _documents_of(instance, club)) == 1

    await visitor.reload()
    assert "Compte rendu de l'assemblée générale" in await visitor.inner_text(
        "section[aria-labelledby=documents-title]")
    assert await visitor.locator("form.document-form").count() == 0  # only the account's team publishes
    await visitor.set_viewport_size(PHONE)
    await visitor.screenshot(path=str(tmp_path / "association-phone.png"), full_page=True)
    assert await visitor.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    feed = feedparser.parse((await steps.get(instance, "/@club_de_foot.rss"))[1])
    titles = [entry.title for entry in feed.entries]
    assert feed.feed.title == "Club de foot (@club_de_foot@commune-a.test)"
    assert "Bienvenue sur la page du club ! #foot" in titles
    photo_entry = next(entry for entry in feed.entries if entry.title == "Photo de l'équipe")
    assert photo_entry.enclosures[0]["type"] == "image/png"


async def _documents_of(instance: LiveInstance, actor: Any) -> list[Any]:
    async with instance.runtime.sessions() as session:
        return list(await session.scalars(select(Attachment).where(
            Attachment.actor_id == actor.id, Attachment.media_type == "application/pdf",
            Attachment.status_id.is_not(None))))


async def test_a_resident_profile_shows_what_each_reader_may_read_a_page_at_a_time(
        make_instance, browser, monkeypatch) -> None:
    instance, people = await _club(make_instance)
    alice, bob = people["alice"], people["bob"]
    for number in range(1, 4):
        await steps.post(instance, alice, f"Message public numéro {number}")
    await steps.post(instance, alice, "Message pour mes abonnés", visibility="private")
    await steps.post(instance, alice, "Message non listé", visibility="unlisted")
    await steps.post(instance, alice, "@bob message privé à Bob", visibility="direct")
    await outbox(instance).follow(bob.id, alice.id)

    visitor = await new_page(browser)
    await visitor.goto(f"{instance.base_url}/@alice")
    header = await visitor.inner_text("header.profile-header")
    assert "Habitant·e" in header and "Maen Roch" in header and "1 abonné" in header
    news = await visitor.inner_text("section[aria-labelledby=news-title]")
    assert "Message public numéro 3" in news and "Message non listé" in news
    assert "abonnés" not in news and "privé à Bob" not in news
    for organisation_part in ("team-title", "documents-title"):
        assert await visitor.locator(f"section[aria-labelledby={organisation_part}]").count() == 0

    follower = await new_page(browser)
    await sign_in(follower, instance, "bob")
    await follower.goto(f"{instance.base_url}/@alice")
    assert "Message pour mes abonnés" in await follower.inner_text("section[aria-labelledby=news-title]")
    assert "privé à Bob" not in await follower.inner_text("section[aria-labelledby=news-title]")
    assert await follower.locator("header.profile-header form.follow[action='/@alice/unfollow']").count() == 1

    monkeypatch.setattr(profile_pages, "NEWS_PAGE", 2)
    await visitor.goto(f"{instance.base_url}/@alice")
    assert await visitor.locator("section[aria-labelledby=news-title] article").count() == 2
    await visitor.click("nav.pager >> text=Plus anciens")
    await visitor.wait_for_url("**/@alice?max_id=*")
    older = await visitor.inner_text("section[aria-labelledby=news-title]")  # unlisted and 3 were on page 1
    assert "Message public numéro 2" in older and "Message public numéro 1" in older
    assert "Message public numéro 3" not in older
    assert "(publications plus anciennes)" in await visitor.title()
    assert await visitor.locator("nav.pager >> text=Plus anciens").count() == 0
    await visitor.click("nav.pager >> text=Dernières publications")
    assert "Message public numéro 3" in await visitor.inner_text("section[aria-labelledby=news-title]")

    status, _, headers = await steps.get(instance, "/@alice", headers={"Accept": AS_JSON})
    assert status == 302 and headers["Location"] == alice.uri


async def test_a_remote_account_is_shown_through_a_local_page_with_a_link_to_its_origin(
        make_instance, browser) -> None:
    a = await make_instance("commune-a.test")
    b = await make_instance("commune-b.test")
    alice = await make_account(a, "alice", display_name="Alice Martin")
    bob = await make_account(b, "bob", display_name="Bob de Fougères")
    await steps.update_actor(b, bob, summary="<p>Maraîcher à Fougères.</p>")
    bob_on_a = await remote_actor(a, "bob@commune-b.test")
    await outbox(a).follow(alice.id, bob_on_a.id)
    await eventually(lambda: _accepted(a, alice.id, bob_on_a.id), what="bob accepts alice")
    posted = await steps.post(b, bob, "Les premières fraises sont arrivées au marché !")
    await eventually(lambda: first(a, select(Status.id).where(Status.uri == posted.uri)), what="bob's post on A")

    page = await new_page(browser)
    await page.goto(f"{a.base_url}/@bob@commune-b.test")
    header = await page.inner_text("header.profile-header")
    assert "Bob de Fougères" in header and "@bob@commune-b.test" in header and "Maraîcher à Fougères." in header
    assert "Ce compte est sur un autre serveur, commune-b.test" in header
    origin = page.locator("header.profile-header a", has_text="Voir le profil complet sur commune-b.test")
    assert await origin.get_attribute("href") == (bob_on_a.url or bob_on_a.uri)
    assert "Les premières fraises" in await page.inner_text("section[aria-labelledby=news-title]")
    assert await page.locator("meta[name=robots]").get_attribute("content") == "noindex"
    assert await page.locator("link[rel=alternate][type='application/activity+json']").get_attribute("href") == \
        bob_on_a.uri
    assert await page.locator("link[rel=alternate][type='application/rss+xml']").count() == 0
    await page.goto(f"{a.base_url}/accounts/{bob_on_a.id}")
    assert page.url == f"{a.base_url}/@bob@commune-b.test"
    # Our own domain in the handle is a local account.
    await page.goto(f"{a.base_url}/@alice@commune-a.test")
    assert "Alice Martin" in await page.inner_text("h1")


async def _accepted(instance: LiveInstance, follower_id: int, followee_id: int) -> Any:
    return await first(instance, select(Follow.id).where(
        Follow.follower_id == follower_id, Follow.followee_id == followee_id, Follow.state == "accepted"))


async def test_a_profile_reads_in_english_and_bad_addresses_get_readable_pages(make_instance, browser) -> None:
    instance, people = await _club(make_instance)
    await steps.post_with_file(instance, people["club"], "Programme", steps.pdf_bytes(), "Programme de la saison")
    context = await browser.new_context(ignore_https_errors=True, locale="en-GB")
    page = await context.new_page()
    await page.goto(f"{instance.base_url}/@club_de_foot")
    assert await page.locator("html").get_attribute("lang") == "en"
    for words in ("Association", "Team", "Documents", "News", "Follow from Mastodon or another fediverse app"):
        assert words in await page.inner_text("main")
    assert "Programme de la saison" in await page.inner_text("section[aria-labelledby=documents-title]")
    await page.goto(f"{instance.base_url}/@club_de_foot/media")
    assert await page.title() == "Photos of Club de foot · commune-a.test"

    for path in ("/@nobody", "/@nobody@unknown.example", "/@club_de_foot/media?max_id=1x", "/accounts/424242",
                 "/@nobody.rss", "/@club_de_foot?max_id=-3", "/@%00"):
        status, body, headers = await steps.get(instance, path)
        assert status in (400, 404), path
        assert headers["content-type"].startswith("text/html") and "<main" in body, path
        assert ("Page introuvable" if status == 404 else "Lien non valide") in body, path
