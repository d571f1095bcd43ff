"""Outgoing mail (fediverse/mail.py) through a real SMTP server: the message as a mail client sees it, in
the recipient's language; without an SMTP host the mail (and its link) goes to the log; a relay that
refuses is retried and then logged, never raised into a page."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from fediverse import mail
from fediverse.templating import catalog_files
from tests.conftest_helpers import make_settings
from tests.smtp_steps import body_of, instance_settings, smtp_server

ROOT = Path(__file__).resolve().parents[1]
LINK = "https://commune-a.test/auth/confirmation?token=1-2-abc"


def confirmation(settings: object, language: str) -> mail.Mail:
    return mail.compose(settings, language, "confirm_email", "marie@example.fr",  # type: ignore[arg-type]
                        name="Marie Dupont", username="marie", link=LINK, hours=48, awaiting_approval=True)


def test_a_mail_is_written_in_the_recipients_language(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, instance_name="Couesnon en commun")
    french, english = confirmation(settings, "fr"), confirmation(settings, "en")
    assert french.subject == "Confirmez votre adresse e-mail pour Couesnon en commun"
    assert english.subject == "Confirm your email address for Couesnon en commun"
    assert french.body.startswith("Bonjour Marie Dupont,")
    assert LINK in french.body and "valable 48 heures" in french.body and "un modérateur" in french.body
    assert LINK in english.body and "valid for 48 hours" in english.body
    assert "{{" not in french.body and "{%" not in english.body


async def test_a_mail_reaches_a_real_smtp_server_with_its_headers(tmp_path: Path) -> None:
    with smtp_server() as mailbox:
        settings = make_settings(tmp_path, **instance_settings(mailbox))
        assert await mail.send(settings, confirmation(settings, "fr"))
        message = await mailbox.wait_for("marie@example.fr")
    assert message["Subject"] == "Confirmez votre adresse e-mail pour commune-a.test"
    assert message["From"] == "Commune A <ne-pas-repondre@commune-a.test>"
    assert message["To"] == "marie@example.fr" and message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "fr" and message["Message-ID"].endswith("@commune-a.test>")
    assert LINK in body_of(message) and "Bonjour Marie Dupont," in body_of(message)


async def test_without_an_smtp_host_the_mail_and_its_link_go_to_the_log(tmp_path: Path, caplog) -> None:
    settings = make_settings(tmp_path)
    with caplog.at_level(logging.WARNING, logger="fediverse.mail"):
        assert not await mail.send(settings, confirmation(settings, "en"))
    assert "marie@example.fr" in caplog.text and LINK in caplog.text and "FEDIVERSE_SMTP_HOST" in caplog.text


async def test_a_refusing_relay_is_retried_then_logged_without_raising(tmp_path: Path, caplog, monkeypatch) -> None:
    monkeypatch.setattr(mail, "RETRY_DELAYS", (0.0, 0.0))
    with smtp_server() as mailbox:
        port = mailbox.port
    settings = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=port)  # nothing listens there any more
    with caplog.at_level(logging.WARNING, logger="fediverse.mail"):
        await mail.deliver(settings, [confirmation(settings, "fr")])
    attempts = [record for record in caplog.records if "marie@example.fr" in record.getMessage()]
    assert [record.levelno for record in attempts] == [logging.WARNING, logging.WARNING, logging.ERROR]


def test_every_string_of_the_mail_templates_has_a_french_translation(tmp_path: Path) -> None:
    """babel.cfg extracts the .html templates; the mails are .txt ones, so they are checked here."""
    config = tmp_path / "babel.cfg"
    config.write_text("[jinja2: templates/mail/**.txt]\nextensions = jinja2.ext.i18n\n")
    pot = tmp_path / "mail.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(config), "-o", str(pot),
                    "."], cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as handle:
        wanted = {message.id for message in read_po(handle) if message.id}
    translated: set[object] = set()
    for po_file in catalog_files("fr"):
        with po_file.open("rb") as handle:
            translated |= {message.id for message in read_po(handle) if message.id and message.string}
    assert len(wanted) >= 15 and sorted(map(str, wanted - translated)) == []
