"""A real SMTP server for the tests of the mailed links: aiosmtpd on a free loopback port, keeping every
message it accepts, so a test reads the mail an instance really sent and follows the link in it."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.live import eventually


class MailBox:
    """Every message the server accepted, as (envelope recipients, parsed message)."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for recipients, message in self.received if address in recipients]

    async def wait_for(self, address: str, count: int = 1, within: float = 20.0) -> EmailMessage:
        """The `count`-th message to `address`, once it has arrived."""
        async def arrived() -> list[EmailMessage] | None:
            messages = self.to(address)
            return messages if len(messages) >= count else None

        return (await eventually(arrived, within=within, what=f"mail #{count} to {address}"))[count - 1]


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def link_in(message: EmailMessage, path: str) -> str:
    """The first link to `path` in the mail's text."""
    found = re.search(rf"https://\S+{re.escape(path)}\?token=\S+", body_of(message))
    assert found, body_of(message)
    return found.group(0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[MailBox]:
    """Run the server for the time of the block; `instance_settings(mailbox)` points an instance at it."""
    mailbox = MailBox()
    mailbox.port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


def instance_settings(mailbox: MailBox, registration: str = "open") -> dict[str, Any]:
    """make_instance overrides: mail through the test server, this registration mode."""
    return {"smtp_host": "127.0.0.1", "smtp_port": mailbox.port,
            "smtp_from": "Commune A <ne-pas-repondre@commune-a.test>", "registration": registration}
