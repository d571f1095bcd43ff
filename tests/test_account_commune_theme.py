"""Every account belongs to a commune of the territory; associations and shops carry a directory theme."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_territory import COUESNON, _run


@pytest.fixture(scope="module")
def territory_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("accounts-territory")
    assert _run(data_dir, "territory", "import", str(COUESNON)).returncode == 0
    return data_dir


def _accounts(data_dir: Path) -> dict[str, dict[str, object]]:
    listed = _run(data_dir, "accounts", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return {row["username"]: row for row in json.loads(listed.stdout)}


def test_an_account_is_created_in_a_commune_of_the_territory_with_a_theme(territory_dir: Path) -> None:
    made = _run(territory_dir, "accounts", "create", "club_foot", "--email", "foot@example.org", "--kind",
                "association", "--commune", "35257", "--theme", "Sport")
    assert made.returncode == 0, made.stderr
    assert _accounts(territory_dir)["club_foot"]["commune"] == "35257"


def test_a_commune_outside_the_territory_is_refused_once_communes_are_imported(territory_dir: Path) -> None:
    refused = _run(territory_dir, "accounts", "create", "jeanne", "--email", "jeanne@example.org",
                   "--commune", "35115")  # Fougères: a neighbouring intercommunality
    assert refused.returncode == 2
    assert "35115" in refused.stderr and "territory" in refused.stderr
    assert "jeanne" not in _accounts(territory_dir)


def test_before_any_import_a_well_formed_insee_code_is_kept_and_a_malformed_one_refused(tmp_path: Path) -> None:
    kept = _run(tmp_path, "accounts", "create", "paul", "--email", "paul@example.org", "--commune", "2a004")
    assert kept.returncode == 0, kept.stderr
    assert _accounts(tmp_path)["paul"]["commune"] == "2A004"
    refused = _run(tmp_path, "accounts", "create", "pierre", "--email", "pierre@example.org", "--commune", "35-1")
    assert refused.returncode == 2 and "INSEE" in refused.stderr


def test_themes_are_from_the_directory_list_and_not_for_residents(territory_dir: Path) -> None:
    unknown = _run(territory_dir, "accounts", "create", "bar", "--email", "bar@example.org", "--kind", "shop",
                   "--theme", "astrologie")
    assert unknown.returncode == 2 and "theme must be one of" in unknown.stderr
    resident = _run(territory_dir, "accounts", "create", "lea", "--email", "lea@example.org", "--theme", "sport")
    assert resident.returncode == 2 and "residents" in resident.stderr


def test_accounts_update_moves_an_account_and_changes_or_clears_its_theme(territory_dir: Path) -> None:
    assert _run(territory_dir, "accounts", "create", "epicerie", "--email", "epicerie@example.org", "--kind", "shop",
                "--commune", "35257", "--theme", "alimentation").returncode == 0
    moved = _run(territory_dir, "accounts", "update", "epicerie", "--commune", "35004", "--theme", "commerce")
    assert moved.returncode == 0, moved.stderr
    assert "commune 35004, theme commerce" in moved.stdout
    cleared = _run(territory_dir, "accounts", "update", "epicerie", "--theme", "")
    assert cleared.returncode == 0 and "theme -" in cleared.stdout
    assert _accounts(territory_dir)["epicerie"]["commune"] == "35004"
    outside = _run(territory_dir, "accounts", "update", "epicerie", "--commune", "99999")
    assert outside.returncode == 2
    missing = _run(territory_dir, "accounts", "update", "nobody", "--theme", "sport")
    assert missing.returncode == 2 and "no local account" in missing.stderr
