"""Outgoing mail: the confirmation and password-reset links, and the notices around them.

Mails are plain text (templates/mail/*.txt, first line the subject), written in the recipient's
language, and sent through the instance's SMTP relay (FEDIVERSE_SMTP_*: STARTTLS when asked for,
implicit TLS on port 465). Without an SMTP host nothing is sent and the mail is written to the log, so
a small instance can be set up before its mail is. The edges send after answering (a BackgroundTask),
so the answer's timing never tells whether an address has an account, and a slow relay never holds a
page; a relay that keeps refusing is logged after a few attempts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
from starlette.background import BackgroundTask

from fediverse.config import Settings
from fediverse.templating import render

log = logging.getLogger(__name__)
RETRY_DELAYS = (2.0, 10.0)  # seconds before the second and third attempts
SMTP_TIMEOUT_SECONDS = 30.0
IMPLICIT_TLS_PORT = 465


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    language: str


def compose(settings: Settings, language: str, template: str, to: str, **context: object) -> Mail:
    """Render templates/mail/<template>.txt in `language`: its first line is the subject."""
    site = settings.instance_name or settings.domain
    text = render(language, f"mail/{template}.txt", settings=settings, site=site, base_url=settings.base_url,
                  **context)
    subject, _, body = text.strip().partition("\n")
    return Mail(to=to, subject=" ".join(subject.split()), body=body.strip() + "\n", language=language)


def sender(settings: Settings) -> str:
    return settings.smtp_from or f"{settings.instance_name or settings.domain} <no-reply@{settings.host}>"


def message_of(settings: Settings, mail: Mail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender(settings)
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.host)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to our links
    message.set_content(mail.body)
    message["Content-Language"] = mail.language  # after set_content, which clears the Content-* headers
    return message


async def send(settings: Settings, mail: Mail) -> bool:
    """One attempt; False (and the mail in the log) when no SMTP host is configured. SMTP errors raise."""
    if not settings.smtp_host:
        log.warning("no SMTP host configured (FEDIVERSE_SMTP_HOST): mail to %s not sent.\nSubject: %s\n\n%s",
                    mail.to, mail.subject, mail.body)
        return False
    implicit_tls = settings.smtp_port == IMPLICIT_TLS_PORT
    await aiosmtplib.send(
        message_of(settings, mail), hostname=settings.smtp_host, port=settings.smtp_port,
        username=settings.smtp_user or None, password=settings.smtp_password or None,
        use_tls=implicit_tls, start_tls=settings.smtp_starttls and not implicit_tls,
        timeout=SMTP_TIMEOUT_SECONDS)
    return True


async def deliver(settings: Settings, mails: Sequence[Mail]) -> None:
    """Send each mail, retrying a refusing relay a few times; never raises (it runs after the answer)."""
    for mail in mails:
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            await asyncio.sleep(delay)
            try:
                await send(settings, mail)
                break
            except (aiosmtplib.SMTPException, OSError) as exc:
                level = logging.ERROR if attempt == len(RETRY_DELAYS) else logging.WARNING
                log.log(level, "mail to %s (%s), attempt %d: %s", mail.to, mail.subject, attempt + 1, exc)


def delivery_task(settings: Settings, mails: Sequence[Mail]) -> BackgroundTask:
    """Attach to a response (`response.background = ...`): the mails leave once the page is sent."""
    return BackgroundTask(deliver, settings, list(mails))
