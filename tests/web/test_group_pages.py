"""Group pages (FEP-1b12) in a real headless Chromium against a live instance: a public group shows its
presentation, members, moderators, how to join and post from any fediverse app, and the discussions
it shared; a resident joins it with the page's button and their post to the group appears there;
a members-only group keeps its members and discussions for its members."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from fediverse.models import Status
from tests.federation_steps import first, make_account, outbox
from tests.live import LiveInstance, eventually
from tests.web import directory_steps as steps
from tests.web.conftest import new_page, sign_in


async def _town(make_instance: Any) -> tuple[LiveInstance, dict[str, Any]]:
    instance = await make_instance("commune-a.test")
    people = {name: await make_account(instance, name, display_name=display)
              for name, display in (("maelle", "Maëlle Moderatrice"), ("bob", "Bob Leroy"), ("chloe", "Chloé"))}
    return instance, people


async def _shared(instance: LiveInstance, group: Any, status: Status) -> Any:
    return await eventually(lambda: first(instance, select(Status.id).where(
        Status.actor_id == group.id, Status.reblog_of_id == status.id)), what="the group's re-share")


async def test_a_public_group_page_shows_members_how_to_join_and_its_discussions(make_instance, browser) -> None:
    instance, people = await _town(make_instance)
    group = await steps.group(instance, "parents", "maelle", display_name="Parents d'élèves de l'école")
    await steps.update_actor(instance, group, summary="<p>Les parents de l'école Jules Ferry.</p>")

    resident = await new_page(browser)
    await sign_in(resident, instance, "bob")
    await resident.goto(f"{instance.base_url}/@parents")
    assert await resident.title() == "Parents d'élèves de l'école (@parents@commune-a.test) · commune-a.test"
    assert "Groupe" in await resident.inner_text("header.profile-header")
    assert "Les parents de l'école Jules Ferry." in await resident.inner_text("header.profile-header")
    facts = await resident.inner_text("section[aria-labelledby=group-title]")
    assert "1 membre" in facts and "Groupe public" in facts and "Tout le monde peut le rejoindre." in facts
    how = await resident.inner_text("section[aria-labelledby=join-title]")
    assert "@parents@commune-a.test" in how and "Mastodon" in how
    assert "Maëlle Moderatrice" in await resident.inner_text("section[aria-labelledby=moderators-title]")
    assert "Rien n’a encore été partagé" in await resident.inner_text("section[aria-labelledby=discussions-title]")

    async with resident.expect_navigation():  # joining is following (the SOCIAL area's button)
        await resident.click("header.profile-header form.follow button")
    assert resident.url.endswith("/@parents")
    assert "Vous êtes membre de ce groupe." in await resident.inner_text("section[aria-labelledby=group-title]")
    assert "2 membres" in await resident.inner_text("section[aria-labelledby=group-title]")
    assert "Bob Leroy" in await resident.inner_text("section[aria-labelledby=members-title]")

    await steps.event(instance, people["maelle"], "Kermesse de l'école", commune=None, attributed_to=group)
    post = await steps.post(instance, people["bob"], "@parents Réunion de rentrée jeudi à 18 h.")
    await _shared(instance, group, post)
    outsider = await steps.post(instance, people["chloe"], "@parents Je ne suis pas membre.")
    visitor = await new_page(browser)
    await visitor.goto(f"{instance.base_url}/@parents")
    discussions = await visitor.inner_text("section[aria-labelledby=discussions-title]")
    assert "Réunion de rentrée jeudi" in discussions and "Bob Leroy" in discussions
    assert "Je ne suis pas membre" not in discussions
    assert await first(instance, select(Status.id).where(Status.reblog_of_id == outsider.id)) is None
    assert "Kermesse de l'école" in await visitor.inner_text("section[aria-labelledby=events-title]")
    assert await visitor.locator("link[rel=alternate][type='text/calendar']").get_attribute("href") == \
        "/@parents/agenda.ics"
    members = await visitor.inner_text("section[aria-labelledby=members-title]")
    assert "Bob Leroy" in members and "Maëlle Moderatrice" in members and "Chloé" not in members
    assert await visitor.locator("link[rel=alternate][type='application/activity+json']").get_attribute("href") == \
        group.uri


async def test_a_members_only_group_keeps_its_members_and_discussions_for_members(make_instance, browser) -> None:
    instance, people = await _town(make_instance)
    group = await steps.group(instance, "bureau", "maelle", display_name="Bureau du comité", members_only=True,
                              approval=True)
    await outbox(instance).follow(people["bob"].id, group.id)
    await outbox(instance).answer_follow_request(group.id, people["bob"].id, accept=True)
    post = await steps.post(instance, people["bob"], "@bureau Ordre du jour de la réunion secrète.")
    await _shared(instance, group, post)

    visitor = await new_page(browser)
    await visitor.goto(f"{instance.base_url}/@bureau")
    facts = await visitor.inner_text("section[aria-labelledby=group-title]")
    assert "2 membres" in facts and "réservé aux membres" in facts and "acceptent chaque nouveau membre" in facts
    assert await visitor.locator("section[aria-labelledby=members-title]").count() == 0
    assert "Seuls les membres peuvent lire" in await visitor.inner_text("section[aria-labelledby=discussions-title]")
    assert await visitor.locator("meta[name=robots]").get_attribute("content") == "noindex"

    member = await new_page(browser)
    await sign_in(member, instance, "bob")
    await member.goto(f"{instance.base_url}/@bureau")
    assert "Ordre du jour de la réunion secrète" in await member.inner_text(
        "section[aria-labelledby=discussions-title]")
    stranger = await new_page(browser)
    await sign_in(stranger, instance, "chloe")
    await stranger.goto(f"{instance.base_url}/@bureau")
    assert "Ordre du jour" not in await stranger.inner_text("main")
