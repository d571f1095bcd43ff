"""The instance's territory: CSV import of communes (CLI and domain), NodeInfo, the instance actor."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import actors.accounts
from actors.accounts import ensure_instance_actor
from actors.serializers import actor_to_as, instance_actor_to_as
from actors.territory import (
    EXAMPLES_DIR,
    CsvImportError,
    communes_within,
    find_commune,
    get_territory,
    haversine_km,
    import_communes,
    init_territory,
    list_communes,
    parse_communes_csv,
    read_communes_file,
)
from fediverse.keys import generate_rsa_keypair
from fediverse.runtime import Runtime
from tests.test_webfinger import asgi_get, discovery_app

COUESNON = EXAMPLES_DIR / "couesnon-marches-de-bretagne.csv"
FOUGERES = EXAMPLES_DIR / "fougeres-agglomeration.csv"
COUESNON_CODES = sorted([
    "35004", "35019", "35071", "35075", "35164", "35191", "35205", "35242", "35244", "35257", "35273",
    "35280", "35292", "35309", "35336",
])
HEADER = "insee,name,postal_code,latitude,longitude\n"
GOOD = "35257,Maen Roch,35460,48.4114,-1.3655\n"


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDIVERSE_")}
    env.update({"FEDIVERSE_DATA_DIR": str(data_dir), "FEDIVERSE_DOMAIN": "localhost:8000"})
    return env


def _run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fediverse", *args], env=_env(data_dir),
                          capture_output=True, text=True, timeout=120)


def _communes_table(data_dir: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(data_dir / "fediverse.sqlite3") as db:
        return db.execute("SELECT insee, name, postal_codes, latitude, longitude, updated_at "
                          "FROM communes ORDER BY insee").fetchall()


# ---------------------------------------------------------------------------------------------
# Shipped example data
# ---------------------------------------------------------------------------------------------


def test_shipped_csvs_are_valid_and_cover_their_intercommunality() -> None:
    couesnon = read_communes_file(COUESNON)
    assert sorted(row.insee for row in couesnon) == COUESNON_CODES
    fougeres = read_communes_file(FOUGERES)
    assert len(fougeres) == 28
    assert {row.insee for row in couesnon}.isdisjoint(row.insee for row in fougeres)
    for row in couesnon + fougeres:
        assert row.insee.startswith("35")
        assert 48.2 < row.latitude < 48.6 and -1.7 < row.longitude < -1.0, row
    maen_roch = next(row for row in couesnon if row.insee == "35257")
    assert (maen_roch.name, maen_roch.postal_codes) == ("Maen Roch", ("35460",))
    val_couesnon = next(row for row in couesnon if row.insee == "35004")
    assert val_couesnon.postal_codes == ("35460", "35560")


# ---------------------------------------------------------------------------------------------
# CLI, in separate processes as an administrator runs it
# ---------------------------------------------------------------------------------------------


def test_cli_init_import_show_and_reimport(tmp_path: Path) -> None:
    empty = _run(tmp_path, "territory", "show", "--json")
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout) == {"name": None, "kind": None, "communes": []}

    made = _run(tmp_path, "territory", "init", "--name", "Couesnon Marches de Bretagne", "--kind",
                "intercommunality")
    assert made.returncode == 0, made.stderr
    imported = _run(tmp_path, "territory", "import", str(COUESNON))
    assert imported.returncode == 0, imported.stderr
    assert "15 added, 0 updated, 0 unchanged" in imported.stdout

    shown = json.loads(_run(tmp_path, "territory", "show", "--json").stdout)
    assert shown["name"] == "Couesnon Marches de Bretagne"
    assert shown["kind"] == "intercommunality"
    assert sorted(c["insee"] for c in shown["communes"]) == COUESNON_CODES
    maen_roch = next(c for c in shown["communes"] if c["insee"] == "35257")
    assert maen_roch == {"insee": "35257", "name": "Maen Roch", "postal_codes": ["35460"],
                         "latitude": 48.4114, "longitude": -1.3655}

    again = _run(tmp_path, "territory", "import", str(COUESNON))
    assert again.returncode == 0 and "0 added, 0 updated, 15 unchanged" in again.stdout

    changed = tmp_path / "changed.csv"
    changed.write_text(HEADER + "35257,Maen Roch,35460;35461,48.5,-1.3\n" + "35115,Fougères,35300,48.3515,-1.2044\n",
                       encoding="utf-8")
    updated = _run(tmp_path, "territory", "import", str(changed))
    assert updated.returncode == 0, updated.stderr
    assert "1 added, 1 updated, 0 unchanged" in updated.stdout
    shown = json.loads(_run(tmp_path, "territory", "show", "--json").stdout)
    assert len(shown["communes"]) == 16
    maen_roch = next(c for c in shown["communes"] if c["insee"] == "35257")
    assert maen_roch["postal_codes"] == ["35460", "35461"] and maen_roch["latitude"] == 48.5

    text = _run(tmp_path, "territory", "show")
    assert "Couesnon Marches de Bretagne (intercommunality)" in text.stdout and "Communes: 16" in text.stdout


def test_cli_refuses_an_unknown_kind(tmp_path: Path) -> None:
    refused = _run(tmp_path, "territory", "init", "--name", "X", "--kind", "region")
    assert refused.returncode == 2 and "intercommunality" in refused.stderr


BAD_FILES = {
    "short insee": (HEADER + GOOD + "3525,Maen Roch,35460,48.41,-1.36\n", 3, "INSEE code"),
    "letters in insee": (HEADER + GOOD + "35A57,Bidon,35460,48.41,-1.36\n", 3, "INSEE code"),
    "empty name": (HEADER + GOOD + "35019, ,35560,48.42,-1.57\n", 3, "name is empty"),
    "bad postal code": (HEADER + GOOD + "35019,Bazouges-la-Pérouse,3556,48.42,-1.57\n", 3, "postal code"),
    "second postal code bad": (HEADER + "35004,Val-Couesnon,35460;3556X,48.46,-1.48\n", 2, "'3556X'"),
    "latitude out of range": (HEADER + GOOD + GOOD.replace("35257", "35019").replace("48.4114", "91"), 3,
                              "latitude"),
    "longitude out of range": (HEADER + "35019,B,35560,48.4,-181\n", 2, "longitude"),
    "latitude not a number": (HEADER + "35019,B,35560,nord,-1.5\n", 2, "not a number"),
    "comma decimal separator": (HEADER + '35019,B,35560,"48,42",-1.57\n', 2, "decimal separator as a dot"),
    "unquoted comma decimal": (HEADER + "35019,B,35560,48,42,-1,57\n", 2, "expected 5 columns"),
    "duplicate insee": (HEADER + GOOD + "35019,B,35560,48.4,-1.5\n" + GOOD, 4, "already appears on line 2"),
    "missing column": (HEADER + "35019,B,35560,48.4\n", 2, "expected 5 columns"),
    "wrong header": ("code,nom,cp,lat,lon\n" + GOOD, 1, "header must be exactly"),
    "not utf-8": ((HEADER + "35075,Chauvign\xe9,35490,48.37,-1.46\n").encode("latin-1"), 2, "not UTF-8"),
    "empty file": ("", 1, "empty"),
}


@pytest.fixture(scope="module")
def populated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding the 15 communes; bad imports must leave it exactly as it is."""
    data_dir = tmp_path_factory.mktemp("territory")
    assert _run(data_dir, "territory", "import", str(COUESNON)).returncode == 0
    return data_dir


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_cli_bad_file_names_the_line_exits_2_and_imports_nothing(populated_dir: Path, tmp_path: Path,
                                                                  case: str) -> None:
    content, line, message = BAD_FILES[case]
    bad = tmp_path / "bad.csv"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        bad.write_text(content, encoding="utf-8")
    before = _communes_table(populated_dir)
    refused = _run(populated_dir, "territory", "import", str(bad))
    assert refused.returncode == 2, refused.stdout
    assert "nothing imported" in refused.stderr
    assert f"line {line}: " in refused.stderr and message in refused.stderr, refused.stderr
    assert _communes_table(populated_dir) == before


def test_cli_missing_file(tmp_path: Path) -> None:
    refused = _run(tmp_path, "territory", "import", str(tmp_path / "absent.csv"))
    assert refused.returncode == 2 and "cannot read" in refused.stderr


# ---------------------------------------------------------------------------------------------
# Parsing details
# ---------------------------------------------------------------------------------------------


def test_every_bad_line_is_reported_at_once() -> None:
    text = HEADER + GOOD + "1,,35460,48.4,-1.3\n" + "35019,B,35560,95,-1.5\n"
    with pytest.raises(CsvImportError) as caught:
        parse_communes_csv(text)
    assert [line for line, _ in caught.value.errors] == [3, 3, 4]


def test_bom_blank_lines_corsica_and_postal_separators_are_accepted() -> None:
    text = "\ufeff" + HEADER + "\n2a004,Ajaccio,20000 20090;20167,41.92,8.74\n\n" + GOOD
    rows = parse_communes_csv(text)
    assert [(r.insee, r.postal_codes) for r in rows] == [("2A004", ("20000", "20090", "20167")),
                                                          ("35257", ("35460",))]


def test_distances() -> None:
    rows = {row.insee: row for row in read_communes_file(COUESNON) + read_communes_file(FOUGERES)}
    maen_roch, fougeres = rows["35257"], rows["35115"]
    assert haversine_km(maen_roch.latitude, maen_roch.longitude, fougeres.latitude, fougeres.longitude) == \
        pytest.approx(13.7, abs=0.3)
    assert haversine_km(48.0, -1.0, 48.0, -1.0) == 0


# ---------------------------------------------------------------------------------------------
# Domain functions, NodeInfo and the instance actor on a live database
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _keypair() -> tuple[str, str]:
    return generate_rsa_keypair()


@pytest.fixture(autouse=True)
def fast_accounts(monkeypatch: pytest.MonkeyPatch, _keypair: tuple[str, str]) -> None:
    monkeypatch.setattr(actors.accounts, "generate_rsa_keypair", lambda: _keypair)


async def _set_up(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        await init_territory(session, "Couesnon Marches de Bretagne", "intercommunality")
        result = await import_communes(session, read_communes_file(COUESNON))
    assert (result.added, result.updated) == (15, 0)


async def test_domain_import_find_and_upsert(runtime: Runtime) -> None:
    await _set_up(runtime)
    async with runtime.sessions() as session, session.begin():
        commune = await find_commune(session, "35257")
        assert commune is not None and commune.name == "Maen Roch"
        assert isinstance(commune.latitude, float)
        renamed = parse_communes_csv(HEADER + "35257,Maen-Roch,35460,48.4114,-1.3655\n")
        result = await import_communes(session, renamed + read_communes_file(FOUGERES))
        assert (result.added, result.updated) == (28, 1)
        await init_territory(session, "Pays de Fougères", "intercommunality")
    async with runtime.sessions() as session:
        communes = await list_communes(session)
        territory = await get_territory(session)
        assert len(communes) == 43
        assert (await find_commune(session, "35257")).name == "Maen-Roch"  # type: ignore[union-attr]
        assert territory is not None and territory.name == "Pays de Fougères"
        maen_roch = next(c for c in communes if c.insee == "35257")
        near = communes_within(maen_roch, 6, communes)
        assert near[0] is maen_roch
        assert "35115" not in {c.insee for c in near}  # Fougères is ~14 km away
        assert "35115" in {c.insee for c in communes_within(maen_roch, 15, communes)}


async def test_nodeinfo_names_the_territory_with_its_communes(runtime: Runtime) -> None:
    await _set_up(runtime)
    for version in ("2.0", "2.1"):
        reply = await asgi_get(discovery_app(runtime), f"/nodeinfo/{version}")
        assert reply.status == 200
        assert reply.json()["metadata"]["territory"] == {
            "name": "Couesnon Marches de Bretagne", "kind": "intercommunality",
            "communes": {"count": 15, "insee": COUESNON_CODES},
        }


async def test_instance_actor_lists_communes_as_places(runtime: Runtime) -> None:
    await _set_up(runtime)
    async with runtime.sessions() as session, session.begin():
        actor = await ensure_instance_actor(session, runtime.uris)
        territory = await get_territory(session)
        communes = await list_communes(session)
    plain = actor_to_as(actor, runtime.uris)
    doc = instance_actor_to_as(actor, runtime.uris, territory, communes)
    assert {k: v for k, v in doc.items() if k not in ("@context", "territory")} == \
        {k: v for k, v in plain.items() if k != "@context"}
    assert doc["type"] == "Application"
    terms = doc["@context"][2]
    assert terms["territory"] == "https://commune-a.test/ns#territory"
    assert terms["PostalAddress"] == "schema:PostalAddress"
    collection = doc["territory"]
    assert collection["type"] == "Collection"
    assert collection["name"] == "Couesnon Marches de Bretagne"
    assert collection["totalItems"] == 15 == len(collection["items"])
    place = next(p for p in collection["items"] if p["name"] == "Val-Couesnon")
    assert place == {
        "type": "Place", "name": "Val-Couesnon", "latitude": 48.4597, "longitude": -1.4826,
        "address": {"type": "PostalAddress", "addressLocality": "Val-Couesnon", "postalCode": "35460",
                    "addressCountry": "FR"},
        "identifier": {"type": "PropertyValue", "propertyID": "INSEE", "name": "INSEE", "value": "35004"},
    }
    for item in collection["items"]:
        assert type(item["latitude"]) is float and type(item["longitude"]) is float
    # Before `territory init`/`import`, the instance actor is exactly the plain one.
    assert instance_actor_to_as(actor, runtime.uris, None, []) == plain


def test_csv_files_use_the_documented_header() -> None:
    for path in (COUESNON, FOUGERES):
        with path.open(encoding="utf-8", newline="") as handle:
            assert next(csv.reader(handle)) == ["insee", "name", "postal_code", "latitude", "longitude"]
