"""The throttle on the forms that make the site send a mail (sign-up, a new confirmation link, a
password reset): one sliding window per client address and per email address, kept in memory like
the login throttle, so a form can flood neither someone's mailbox nor the relay's quota."""

from __future__ import annotations

from starlette.requests import Request

from fediverse.login_throttle import LoginThrottle, client_ip

MAILS_PER_ADDRESS, MAILS_PER_CLIENT, MAIL_WINDOW_SECONDS = 3, 30, 900.0


def mail_throttle_of(request: Request) -> LoginThrottle:
    """The app's throttle of mail-sending forms (the login throttle's sliding window, other limits)."""
    throttle = getattr(request.app.state, "mail_throttle", None)
    if throttle is None:
        throttle = request.app.state.mail_throttle = LoginThrottle(
            per_login=MAILS_PER_ADDRESS, per_ip=MAILS_PER_CLIENT, window=MAIL_WINDOW_SECONDS)
    return throttle


def mail_blocked(request: Request, email: str) -> bool:
    """Whether this client, or this address, asked for too many mails lately."""
    return mail_throttle_of(request).blocked(client_ip(request), email)


def count_mail(request: Request, email: str) -> None:
    """One more mail asked for (the login throttle calls each counted event a failure)."""
    mail_throttle_of(request).failed(client_ip(request), email)
