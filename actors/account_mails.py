"""The mails about an account (its confirmation link, a password-reset link, the notice of a new
password, the admins' notice of an account awaiting them), written in the recipient's language.
Every edge that creates accounts or resets passwords (the website, the Mastodon API) sends the same
mails: they build them here and send them after their commit (fediverse.mail.delivery_task / deliver)."""

from __future__ import annotations

from urllib.parse import quote

from actors.account_tokens import CONFIRM_EMAIL, RESET_PASSWORD, VALIDITY, make_token
from actors.registrations import Confirmation
from fediverse.config import Settings
from fediverse.mail import Mail, compose
from fediverse.models import Actor, User
from fediverse.templating import LANGUAGES


def _language(settings: Settings, user: User) -> str:
    return user.locale if user.locale in LANGUAGES else settings.language


def _link(settings: Settings, path: str, token: str) -> str:
    return f"{settings.base_url}{path}?token={quote(token)}"


def _hours(purpose: str) -> int:
    return int(VALIDITY[purpose].total_seconds() // 3600)


def confirmation_mail(settings: Settings, user: User, actor: Actor) -> Mail:
    """The link of `/auth/confirmation` (valid two days); it says when a moderator will look next."""
    return compose(settings, _language(settings, user), "confirm_email", user.email,
                   name=actor.display_name or actor.username, username=actor.username,
                   link=_link(settings, "/auth/confirmation", make_token(settings, CONFIRM_EMAIL, user)),
                   hours=_hours(CONFIRM_EMAIL), awaiting_approval=not user.approved)


def reset_mail(settings: Settings, user: User, actor: Actor) -> Mail:
    """The link of `/auth/password/edit` (valid six hours, once)."""
    return compose(settings, _language(settings, user), "reset_password", user.email,
                   name=actor.display_name or actor.username, username=actor.username,
                   link=_link(settings, "/auth/password/edit", make_token(settings, RESET_PASSWORD, user)),
                   hours=_hours(RESET_PASSWORD))


def password_changed_mail(settings: Settings, user: User, actor: Actor) -> Mail:
    return compose(settings, _language(settings, user), "password_changed", user.email,
                   name=actor.display_name or actor.username, username=actor.username)


def pending_account_mails(settings: Settings, confirmation: Confirmation, commune_name: str | None) -> list[Mail]:
    """To each admin, in their language, when an account awaiting approval has just proved its address."""
    if not (confirmation.newly and confirmation.awaiting_approval):
        return []
    return [compose(settings, _language(settings, admin_user), "sign_up_pending", admin_user.email,
                    name=admin_actor.display_name or admin_actor.username,
                    username=confirmation.actor.username, email=confirmation.user.email, commune=commune_name,
                    reason=confirmation.user.registration_reason or "")
            for admin_user, admin_actor in confirmation.admins]
