"""Local accounts: creation (with their RSA key), password checks, the instance actor."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediverse.db import utcnow
from fediverse.keys import generate_rsa_keypair
from fediverse.models import KIND_TO_TYPE, Actor, Commune, User
from fediverse.uris import USERNAME_RE, Uris

KINDS = ("resident", "association", "official", "shop", "collectivity")
RESERVED_USERNAMES = frozenset(
    {"admin", "administrator", "root", "actor", "inbox", "outbox", "api", "oauth", "well-known", "users",
     "instance", "relay", "support", "webmaster", "postmaster", "abuse", "nodeinfo", "settings", "about"}
)
# Directory ("annuaire") themes of associations and shops; residents have none.
DIRECTORY_THEMES = ("sport", "culture", "solidarite", "jeunesse", "environnement", "education", "sante", "loisirs",
                    "patrimoine", "commerce", "alimentation", "artisanat", "services", "social", "citoyennete")
_hasher = PasswordHasher()


class AccountError(ValueError):
    """A clear reason why an account cannot be created (shown by the CLI and the API)."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def local_actor_row(uris: Uris, username: str, *, kind: str, display_name: str = "") -> Actor:
    """A local Actor with all its endpoint URIs filled in and a fresh key pair."""
    private_pem, public_pem = generate_rsa_keypair()
    if kind == "instance":
        uri = uris.instance_actor()
        inbox, outbox = uris.shared_inbox(), f"{uri}/outbox"
        followers = following = featured = None
        url = uris.base + "/about"
    else:
        uri = uris.actor(username)
        inbox, outbox = uris.inbox(username), uris.outbox(username)
        followers, following, featured = uris.followers(username), uris.following(username), uris.featured(username)
        url = uris.profile_page(username)
    return Actor(
        uri=uri,
        username=username,
        username_lower=username.lower(),
        domain=None,
        domain_key="",
        actor_type=KIND_TO_TYPE[kind],
        kind=kind,
        display_name=display_name or username,
        url=url,
        inbox_url=inbox,
        shared_inbox_url=uris.shared_inbox(),
        outbox_url=outbox,
        followers_url=followers,
        following_url=following,
        featured_url=featured,
        public_key_id=uris.key_id(uri),
        public_key_pem=public_pem,
        private_key_pem=private_pem,
        manually_approves_followers=False,
        discoverable=kind != "instance",
    )


async def find_local_actor(session: AsyncSession, username: str) -> Actor | None:
    return await session.scalar(
        select(Actor).where(Actor.domain_key == "", Actor.username_lower == username.lower())
    )


async def create_account(
    session: AsyncSession,
    uris: Uris,
    username: str,
    *,
    email: str,
    password: str,
    kind: str = "resident",
    display_name: str = "",
    commune_insee: str | None = None,
    theme: str | None = None,
    is_admin: bool = False,
    email_confirmed: bool = True,
) -> tuple[Actor, User]:
    """Create a local actor and its login; the caller commits. Accounts made by an admin (CLI, API) have
    a confirmed address; web sign-up passes `email_confirmed=False` and mails a confirmation link."""
    if not USERNAME_RE.match(username):
        raise AccountError("username: letters, digits, _ . - only (1 to 64 characters)")
    if username.lower() in RESERVED_USERNAMES and not is_admin:
        raise AccountError(f"username {username!r} is reserved")
    if kind not in KINDS:
        raise AccountError(f"kind must be one of {', '.join(KINDS)}")
    if "@" not in email or len(email) > 320:
        raise AccountError("email: a valid address is required")
    commune_insee = await checked_commune(session, commune_insee)
    theme = checked_theme(theme, kind)
    if len(password) < 8:
        raise AccountError("password: at least 8 characters")
    if await find_local_actor(session, username):
        raise AccountError(f"username {username!r} is already taken")
    if await session.scalar(select(User.id).where(func.lower(User.email) == email.lower())):
        raise AccountError(f"email {email!r} is already used")
    actor = await asyncio.to_thread(local_actor_row, uris, username, kind=kind, display_name=display_name)
    set_home(actor, await session.get(Commune, commune_insee) if commune_insee else None, commune_insee)
    actor.theme = theme
    actor.manually_approves_followers = False
    session.add(actor)
    await session.flush()
    password_hash = await asyncio.to_thread(hash_password, password)
    user = User(actor_id=actor.id, email=email, password_hash=password_hash, is_admin=is_admin,
                role="admin" if is_admin else "user",
                email_confirmed_at=utcnow() if email_confirmed else None)
    session.add(user)
    await session.flush()
    return actor, user


def set_home(actor: Actor, commune: Commune | None, insee: str | None = None) -> None:
    """The account's commune, and its centre as the account's point (what its actor document's
    `location` shows); `insee` alone when the territory has no communes imported yet."""
    actor.commune_insee = commune.insee if commune is not None else insee
    actor.latitude = float(commune.latitude) if commune is not None else None
    actor.longitude = float(commune.longitude) if commune is not None else None
    actor.location_name = commune.name if commune is not None else None


async def checked_commune(session: AsyncSession, insee: str | None) -> str | None:
    """An account's commune must be one the territory serves, once communes are imported (before that,
    any INSEE-shaped code is kept, so an instance can be set up in any order)."""
    if insee is None or not insee.strip():
        return None
    insee = insee.strip().upper()
    if await session.get(Commune, insee) is not None:
        return insee
    if await session.scalar(select(func.count()).select_from(Commune)):
        raise AccountError(f"commune {insee!r} is not one of the territory's communes (see `fediverse territory show`)")
    if len(insee) != 5 or not (insee.isdigit() or (insee[:2] in ("2A", "2B") and insee[2:].isdigit())):
        raise AccountError(f"commune {insee!r} is not an INSEE code (5 characters, e.g. 35257)")
    return insee


def checked_theme(theme: str | None, kind: str) -> str | None:
    """Directory theme: one of DIRECTORY_THEMES, for the kinds listed in the directory (not residents)."""
    if theme is None or not theme.strip():
        return None
    theme = theme.strip().lower()
    if theme not in DIRECTORY_THEMES:
        raise AccountError(f"theme must be one of {', '.join(DIRECTORY_THEMES)}")
    if kind in ("resident", "instance"):
        raise AccountError("residents are not listed in the directory: no theme")
    return theme


async def update_account_settings(session: AsyncSession, username: str, *, commune_insee: str | None = None,
                                  theme: str | None = None) -> Actor:
    """Change an account's commune or directory theme (admin CLI); the caller commits. An empty string clears."""
    actor = await find_local_actor(session, username)
    if actor is None or actor.deleted_at is not None or actor.kind == "instance":
        raise AccountError(f"no local account {username!r}")
    if commune_insee is not None:
        insee = await checked_commune(session, commune_insee)
        set_home(actor, await session.get(Commune, insee) if insee else None, insee)
    if theme is not None:
        actor.theme = checked_theme(theme, actor.kind)
    actor.updated = utcnow()
    await session.flush()
    return actor


async def ensure_instance_actor(session: AsyncSession, uris: Uris) -> Actor:
    """The Application actor that signs fetches (authorized-fetch servers require a signer)."""
    actor = await session.scalar(select(Actor).where(Actor.uri == uris.instance_actor()))
    if actor is None:
        actor = await asyncio.to_thread(local_actor_row, uris, uris.settings.domain, kind="instance")
        actor.display_name = uris.settings.instance_name or uris.settings.domain
        session.add(actor)
        await session.flush()
    return actor
