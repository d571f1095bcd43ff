"""`fediverse announcements` as an administrator runs it: separate processes on a real data directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def test_create_and_list_announcements_urgent_first(data_dir: Path) -> None:
    water = _run(data_dir, "announcements", "create", "--from", "mairie", "--text", "Coupure d'eau jeudi",
                 "--urgent", "--until", "2099-01-15")
    assert water.returncode == 0, water.stderr
    assert "(urgent)" in water.stdout and "until 2099-01-15" in water.stdout
    council = _run(data_dir, "announcements", "create", "--from", "@mairie", "--text", "Conseil municipal",
                   "--until", "2099-01-20T18:30")
    assert council.returncode == 0, council.stderr
    forever = _run(data_dir, "announcements", "create", "--from", "mairie", "--text", "Horaires de la mairie")
    assert forever.returncode == 0 and "until deleted" in forever.stdout
    rows = _listed(data_dir)
    assert [r["text"] for r in rows] == ["Coupure d'eau jeudi", "Horaires de la mairie", "Conseil municipal"]
    first = rows[0]
    assert first["urgent"] is True and first["all_day"] is True and first["from"] == "mairie"
    # A bare date lasts to the end of that day in France (winter time, UTC+1).
    assert first["ends_at"] == "2099-01-15T22:59:59+00:00"
    # A time without offset is French time too.
    assert rows[2]["ends_at"] == "2099-01-20T17:30:00+00:00" and rows[2]["all_day"] is False
    assert rows[1]["ends_at"] is None
    table = _run(data_dir, "announcements", "list")
    assert table.returncode == 0 and "URGENT" in table.stdout.splitlines()[0]
    deleted = _run(data_dir, "announcements", "delete", str(rows[1]["id"]))
    assert deleted.returncode == 0, deleted.stderr
    assert [r["text"] for r in _listed(data_dir)] == ["Coupure d'eau jeudi", "Conseil municipal"]


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
    missing = _run(data_dir, "announcements", "delete", "123456")
    assert missing.returncode == 2 and "no announcement 123456" in missing.stderr
    assert _listed(data_dir, "--all") == []
