"""`fediverse announcements` as an administrator runs it: separate processes on a real data directory
(no server running: the statuses are posted and their deliveries queued for its workers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest


def _run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDIVERSE_")}
    env.update({"FEDIVERSE_DATA_DIR": str(data_dir), "FEDIVERSE_DOMAIN": "localhost:8000"})
    return subprocess.run([sys.executable, "-m", "fediverse", *args], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    made = _run(tmp_path, "accounts", "create", "mairie", "--email", "contact@mairie.fr", "--password",
                "un mot de passe", "--kind", "collectivity")
    assert made.returncode == 0, made.stderr
    return tmp_path


def _listed(data_dir: Path, *extra: str) -> list[dict[str, object]]:
    listed = _run(data_dir, "announcements", "list", "--json", *extra)
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


def test_create_and_list_institutional_messages_urgent_first(data_dir: Path) -> None:
    water = _run(data_dir, "announcements", "create", "--from", "mairie", "--text", "Coupure d'eau jeudi",
                 "--urgent", "--until", "2099-01-15")
    assert water.returncode == 0, water.stderr
    assert "[alerte] (urgent)" in water.stdout and "until 2099-01-15" in water.stdout
    assert "https://localhost:8000/@mairie/" in water.stdout and "(pinned)" in water.stdout
    council = _run(data_dir, "announcements", "create", "--from", "@mairie", "--text", "Conseil municipal",
                   "--theme", "Logement", "--until", "2099-01-20T18:30")
    assert council.returncode == 0, council.stderr
    forever = _run(data_dir, "announcements", "create", "--from", "mairie", "--text", "Horaires de la mairie")
    assert forever.returncode == 0 and "until deleted" in forever.stdout
    rows = _listed(data_dir)
    # The theme's hashtag is added to the status; no theme, no hashtag.
    assert [r["text"] for r in rows] == ["Coupure d'eau jeudi\n\n#Alerte", "Horaires de la mairie",
                                         "Conseil municipal\n\n#Logement"]
    assert [r["theme"] for r in rows] == ["alerte", None, "logement"]
    assert all(str(r["status"]).startswith("https://localhost:8000/@mairie/") for r in rows)
    first = rows[0]
    assert first["urgent"] is True and first["all_day"] is True and first["from"] == "mairie"
    # A bare date lasts to the end of that day in France (winter time, UTC+1).
    assert first["ends_at"] == "2099-01-15T22:59:59+00:00"
    # A time without offset is French time too.
    assert rows[2]["ends_at"] == "2099-01-20T17:30:00+00:00" and rows[2]["all_day"] is False
    assert rows[1]["ends_at"] is None
    table = _run(data_dir, "announcements", "list")
    assert table.returncode == 0 and "URGENT" in table.stdout.splitlines()[0] and "alerte" in table.stdout
    deleted = _run(data_dir, "announcements", "delete", str(rows[1]["id"]))
    assert deleted.returncode == 0, deleted.stderr
    assert [r["theme"] for r in _listed(data_dir)] == ["alerte", "logement"]


def test_an_urgent_message_without_end_lasts_72_hours(data_dir: Path) -> None:
    made = _run(data_dir, "announcements", "create", "--from", "mairie", "--text", "Orages #vigilance", "--urgent")
    assert made.returncode == 0, made.stderr
    (row,) = _listed(data_dir)
    published = datetime.fromisoformat(str(row["published_at"]))
    assert datetime.fromisoformat(str(row["ends_at"])) - published == timedelta(hours=72)
    assert row["urgent"] is True and row["theme"] == "alerte"


def test_create_refuses_unknown_accounts_and_bad_dates_with_a_clear_message(data_dir: Path) -> None:
    unknown = _run(data_dir, "announcements", "create", "--from", "personne", "--text", "Bonjour")
    assert unknown.returncode == 2 and "no local account named 'personne'" in unknown.stderr
    for bad in ("demain", "2099-02-30", "15/01/2099"):
        refused = _run(data_dir, "announcements", "create", "--from", "mairie", "--text", "Bonjour", "--until", bad)
        assert refused.returncode == 2 and "--until" in refused.stderr and bad in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    past = _run(data_dir, "announcements", "create", "--from", "mairie", "--text", "Bonjour", "--until", "2001-01-01")
    assert past.returncode == 2 and "already past" in past.stderr
    empty = _run(data_dir, "announcements", "create", "--from", "mairie", "--text", "   ")
    assert empty.returncode == 2 and "empty" in empty.stderr
    theme = _run(data_dir, "announcements", "create", "--from", "mairie", "--text", "Bonjour", "--theme", "sport")
    assert theme.returncode == 2 and "--theme" in theme.stderr and "travaux" in theme.stderr
    missing = _run(data_dir, "announcements", "delete", "123456")
    assert missing.returncode == 2 and "no announcement 123456" in missing.stderr
    assert _listed(data_dir, "--all") == []


def test_only_the_collectivity_account_posts_institutional_messages(data_dir: Path) -> None:
    made = _run(data_dir, "accounts", "create", "alice", "--email", "alice@example.fr", "--password", "un mot de passe")
    assert made.returncode == 0, made.stderr
    refused = _run(data_dir, "announcements", "create", "--from", "alice", "--text", "Travaux", "--theme", "travaux")
    assert refused.returncode == 2, refused.stderr
    assert "error: alice is a resident account: institutional messages are posted by a collectivity account" \
        in refused.stderr
    assert _listed(data_dir, "--all") == []
