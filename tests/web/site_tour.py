"""A small commune's site with some of everything on it, and the list of its main pages: what the
accessibility and screenshot tests visit. One instance, filled directly through the domain commands
(the same ones the website and the API call), so the pages show real content: posts, an event, an
ad, an association with a team, a town hall account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from actors import teams
from actors.timelines.conversations import sync_conversations
from fediverse.models import Actor, ConversationState
from fediverse.web.session import COOKIE_NAME
from outbox.ad_commands import post_ad
from outbox.ads import AdSpec
from outbox.commands import Outbox, StatusDraft
from outbox.event_wire import event_spec
from outbox.events import EventCommands
from tests.federation_steps import make_account
from tests.live import LiveInstance
from tests.test_locations import with_territory
from tests.web.test_neighbourhood_pages import session_cookie, user_of

MAEN_ROCH = "35257"


@dataclass(frozen=True)
class SitePage:
    """A page to visit: its name (for messages and screenshot files), its path, and who sees it."""

    name: str
    path: str
    anonymous: bool = True
    signed_in: bool = True


@dataclass
class Site:
    instance: LiveInstance
    alice: Actor
    pages: list[SitePage]

    def url(self, page: SitePage) -> str:
        return self.instance.base_url + page.path


async def browser_context(browser: Any, instance: LiveInstance, actor: Actor | None = None, **options: Any) -> Any:
    """A context in French (unless `locale` says otherwise), test certificates accepted, signed in as `actor`
    when given (with the cookie the sign-in page sets, see tests/web/test_neighbourhood_pages.py)."""
    options.setdefault("locale", "fr-FR")
    context = await browser.new_context(ignore_https_errors=True, **options)
    if actor is not None:
        value, _ = await session_cookie(instance, (await user_of(instance, actor)).id)
        await context.add_cookies([{"name": COOKIE_NAME, "value": value, "url": instance.base_url, "secure": True,
                                    "httpOnly": True, "sameSite": "Lax"}])
    return context


def _in_days(days: int, hour: int) -> str:
    moment = (datetime.now(UTC) + timedelta(days=days)).date()
    return f"{moment.isoformat()}T{hour:02d}:00"


async def populated_site(make_instance: Any) -> Site:
    """alice (a resident of Maen Roch, admin of the football club), the town hall, posts, an event, an
    ad, a private message, a reply, a follow and a favourite for alice; the main pages of the site."""
    instance = await with_territory(await make_instance("commune-a.test"))
    alice = await make_account(instance, "alice", commune_insee=MAEN_ROCH, display_name="Alice Martin")
    mairie = await make_account(instance, "mairie", kind="collectivity", commune_insee=MAEN_ROCH,
                                display_name="Mairie de Maen Roch")
    club = await make_account(instance, "club_de_foot", kind="association", commune_insee=MAEN_ROCH,
                              display_name="Club de foot de Maen Roch")
    async with instance.runtime.transaction() as session:
        await teams.add_member(session, club, await user_of(instance, alice), "admin", active=True)
    outbox = Outbox(instance.runtime)
    post = await outbox.post(alice.id, StatusDraft(
        text="Le marché de dimanche est déplacé place de l’église à cause des travaux. #marche",
        commune=MAEN_ROCH))
    await outbox.post(mairie.id, StatusDraft(
        text="Coupure d’eau rue de la Mairie mardi de 9 h à 12 h pour travaux sur le réseau.", commune=MAEN_ROCH))
    await outbox.post(alice.id, StatusDraft(text="Quelqu’un a vu un chat roux près de l’école ?",
                                            spoiler_text="Animal perdu", commune=MAEN_ROCH))
    event = await EventCommands(instance.runtime).create_event(club.id, event_spec({
        "title": "Tournoi de foot des jeunes", "description": "<p>Buvette et crêpes sur place.</p>",
        "start": _in_days(12, 14), "end": _in_days(12, 18), "category": "sports", "capacity": "200",
        "place": {"name": "Stade municipal", "street": "Rue du Stade", "commune": MAEN_ROCH}}))
    ad = await post_ad(outbox, alice.id, AdSpec(
        title="Vélo enfant 16 pouces", description="Bon état, casque offert. À venir chercher à Maen Roch.",
        category="vente", purpose="offer", price_cents=3500, free=False, expires_at=None, commune=MAEN_ROCH))
    # A private conversation, a reply, a follow and a favourite: alice's messages and notifications are not empty.
    await outbox.post(mairie.id, StatusDraft(text="@alice Bonjour, pouvez-vous passer en mairie signer le "
                                             "registre de l’association ?", visibility="direct"))
    await outbox.post(mairie.id, StatusDraft(text="@alice Merci, nous prévenons les services techniques.",
                                             in_reply_to_id=post.id))
    await outbox.follow(mairie.id, alice.id)
    await outbox.favourite(mairie.id, post.id)
    async with instance.runtime.transaction() as session:
        await sync_conversations(session, alice.id)  # what opening the messages page does first
        conversation = await session.scalar(select(ConversationState.id).where(
            ConversationState.actor_id == alice.id))
    pages = [
        SitePage("home", "/"),
        SitePage("agenda", "/agenda"),
        SitePage("agenda-month", "/agenda?view=month"),
        SitePage("agenda-map", "/agenda/map"),
        SitePage("event", f"/@club_de_foot/{event.status_id}"),
        SitePage("ads", "/annonces"),
        SitePage("ad", f"/@alice/{ad.status_id}"),
        SitePage("directory", "/annuaire"),
        SitePage("profile", "/@alice"),
        SitePage("association-profile", "/@club_de_foot"),
        SitePage("post", f"/@alice/{post.id}"),
        SitePage("hashtag", "/tags/marche"),
        SitePage("search", "/search?q=march%C3%A9"),
        SitePage("about", "/about"),
        SitePage("sign-in", "/auth/sign_in", signed_in=False),
        SitePage("sign-up", "/auth/sign_up", signed_in=False),
        SitePage("password-reset", "/auth/password/new", signed_in=False),
        SitePage("compose", "/statuses/new", anonymous=False),
        SitePage("new-event", "/agenda/new", anonymous=False),
        SitePage("new-ad", "/annonces/new", anonymous=False),
        SitePage("conversations", "/conversations", anonymous=False),
        SitePage("conversation", f"/conversations/{conversation}", anonymous=False),
        SitePage("new-conversation", "/conversations/new", anonymous=False),
        SitePage("notifications", "/notifications", anonymous=False),
        SitePage("neighbourhood", "/voisinage", anonymous=False),
        SitePage("settings-profile", "/settings/profile", anonymous=False),
        SitePage("settings-sessions", "/settings/sessions", anonymous=False),
        SitePage("neighbourhood-settings", "/settings/neighbourhood", anonymous=False),
        SitePage("team", "/settings/team", anonymous=False),
    ]
    return Site(instance, alice, pages)
