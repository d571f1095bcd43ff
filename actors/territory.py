"""The instance's territory and its communes: set up by the administrator, read by everything else.

Communes come from a CSV file (`insee,name,postal_code,latitude,longitude`) the administrator
prepares or takes from `fediverse/territories/`. An import is all or nothing: every row is
validated before anything is written, so a typo on line 12 never leaves half a territory behind.
Distances (haversine) live here because neighbourhood features (radius around a home commune)
need them on the same data.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import fediverse
from fediverse.db import utcnow
from fediverse.models import TERRITORY_KINDS, Commune, Territory

CSV_HEADER = ("insee", "name", "postal_code", "latitude", "longitude")
TERRITORY_ID = 1
EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)
# Example CSVs shipped as package data of `fediverse` (demo and tests).
EXAMPLES_DIR = Path(fediverse.__file__).resolve().parent / "territories"

# Metropolitan and overseas codes are 5 digits; Corsica uses 2A/2B followed by 3 digits.
_INSEE_RE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")
_POSTAL_RE = re.compile(r"^\d{5}$")
_POSTAL_SEPARATORS = re.compile(r"[\s;]+")
MAX_REPORTED_ERRORS = 20


class TerritoryError(Exception):
    """A refusal the administrator can act on (bad kind, unreadable file, bad rows)."""


class CsvImportError(TerritoryError):
    """One or more bad rows; `errors` lists (line number, problem) so every problem is shown at once."""

    def __init__(self, errors: Sequence[tuple[int, str]]) -> None:
        self.errors = list(errors)
        shown = [f"line {line}: {problem}" for line, problem in self.errors[:MAX_REPORTED_ERRORS]]
        if len(self.errors) > MAX_REPORTED_ERRORS:
            shown.append(f"... and {len(self.errors) - MAX_REPORTED_ERRORS} more")
        super().__init__("\n".join(shown))


@dataclass(frozen=True)
class CommuneRow:
    """One validated CSV row."""

    insee: str
    name: str
    postal_codes: tuple[str, ...]
    latitude: float
    longitude: float


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int


# ---------------------------------------------------------------------------------------------
# CSV parsing and validation (pure, no database)
# ---------------------------------------------------------------------------------------------


def _coordinate(raw: str, label: str, bound: float) -> tuple[float | None, str | None]:
    """A finite float within [-bound, bound]; a comma decimal separator is refused, not guessed."""
    text = raw.strip()
    if not text:
        return None, f"{label} is empty"
    if "," in text:
        return None, f"{label} {text!r} uses a comma; write the decimal separator as a dot (e.g. 48.35)"
    try:
        value = float(text)
    except ValueError:
        return None, f"{label} {text!r} is not a number"
    if not math.isfinite(value):
        return None, f"{label} {text!r} is not a finite number"
    if not -bound <= value <= bound:
        return None, f"{label} {value} is outside [-{bound:g}, {bound:g}]"
    return value, None


def _validate_row(cells: list[str]) -> tuple[CommuneRow | None, list[str]]:
    problems: list[str] = []
    if len(cells) != len(CSV_HEADER):
        hint = " (a comma inside a number? use a dot as decimal separator)" if len(cells) > len(CSV_HEADER) else ""
        return None, [f"expected {len(CSV_HEADER)} columns ({','.join(CSV_HEADER)}), found {len(cells)}{hint}"]
    insee_raw, name_raw, postal_raw, lat_raw, lon_raw = cells
    insee = insee_raw.strip().upper()
    if not _INSEE_RE.match(insee):
        problems.append(f"INSEE code {insee_raw.strip()!r} must be 5 characters: digits, or 2A/2B and 3 digits")
    name = " ".join(name_raw.split())
    if not name:
        problems.append("name is empty")
    codes = [code for code in _POSTAL_SEPARATORS.split(postal_raw.strip()) if code]
    if not codes:
        problems.append("postal_code is empty")
    for code in codes:
        if not _POSTAL_RE.match(code):
            problems.append(f"postal code {code!r} must be 5 digits")
    latitude, lat_problem = _coordinate(lat_raw, "latitude", 90)
    longitude, lon_problem = _coordinate(lon_raw, "longitude", 180)
    problems += [p for p in (lat_problem, lon_problem) if p]
    if problems or latitude is None or longitude is None:
        return None, problems
    unique_codes = tuple(dict.fromkeys(codes))
    return CommuneRow(insee, name, unique_codes, latitude, longitude), []


def parse_communes_csv(text: str) -> list[CommuneRow]:
    """Validated rows of a communes CSV, or CsvImportError naming every bad line.

    Line numbers are physical lines of the file (the header is line 1), as an editor shows them.
    """
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    errors: list[tuple[int, str]] = []
    try:
        header = next(reader)
    except StopIteration:
        raise CsvImportError([(1, f"the file is empty; expected the header {','.join(CSV_HEADER)}")]) from None
    except csv.Error as exc:
        raise CsvImportError([(1, f"unreadable CSV: {exc}")]) from None
    if tuple(cell.strip() for cell in header) != CSV_HEADER:
        raise CsvImportError([(1, f"the header must be exactly {','.join(CSV_HEADER)} "
                                  f"(found {','.join(cell.strip() for cell in header)})")])
    rows: list[CommuneRow] = []
    seen: dict[str, int] = {}
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append((reader.line_num, f"unreadable CSV: {exc}"))
            break
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # blank line (often a trailing one)
        row, problems = _validate_row(cells)
        errors += [(line, problem) for problem in problems]
        if row is None:
            continue
        if row.insee in seen:
            errors.append((line, f"INSEE code {row.insee} already appears on line {seen[row.insee]}"))
            continue
        seen[row.insee] = line
        rows.append(row)
    if errors:
        raise CsvImportError(errors)
    if not rows:
        raise CsvImportError([(2, "no commune in the file")])
    return rows


def read_communes_file(path: str | Path) -> list[CommuneRow]:
    """Read and validate a UTF-8 (with or without BOM) communes CSV file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TerritoryError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CsvImportError([(line, "the file is not UTF-8 (re-save it as UTF-8)")]) from exc
    return parse_communes_csv(text)


# ---------------------------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------------------------


async def get_territory(session: AsyncSession) -> Territory | None:
    return await session.get(Territory, TERRITORY_ID)


async def init_territory(session: AsyncSession, name: str, kind: str) -> Territory:
    """Create or rename the territory (there is exactly one per instance)."""
    name = " ".join(name.split())
    if not name:
        raise TerritoryError("the territory needs a name")
    if kind not in TERRITORY_KINDS:
        raise TerritoryError(f"kind must be one of {', '.join(TERRITORY_KINDS)}")
    territory = await get_territory(session)
    if territory is None:
        territory = Territory(id=TERRITORY_ID, name=name, kind=kind)
        session.add(territory)
    else:
        territory.name, territory.kind, territory.updated_at = name, kind, utcnow()
    await session.flush()
    return territory


async def import_communes(session: AsyncSession, rows: Iterable[CommuneRow]) -> ImportResult:
    """Upsert validated rows by INSEE code in the caller's transaction; counts added and updated.

    Portable ORM upsert (one SELECT for the existing codes, then inserts/updates) so the same code
    runs on SQLite and PostgreSQL.
    """
    rows = list(rows)
    existing = {c.insee: c for c in (await session.scalars(
        select(Commune).where(Commune.insee.in_([row.insee for row in rows])))).all()} if rows else {}
    added = updated = 0
    now = utcnow()
    for row in rows:
        commune = existing.get(row.insee)
        values = {"name": row.name, "postal_codes": " ".join(row.postal_codes),
                  "latitude": row.latitude, "longitude": row.longitude}
        if commune is None:
            session.add(Commune(insee=row.insee, created_at=now, updated_at=now, **values))
            added += 1
        elif any(getattr(commune, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(commune, key, value)
            commune.updated_at = now
            updated += 1
    await session.flush()
    return ImportResult(added=added, updated=updated)


async def list_communes(session: AsyncSession) -> list[Commune]:
    """Communes by name (then code, for homonyms), the order people look them up in."""
    return list((await session.scalars(select(Commune).order_by(Commune.name, Commune.insee))).all())


async def count_communes(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Commune)) or 0)


async def commune_codes(session: AsyncSession) -> list[str]:
    """INSEE codes of the territory, sorted (what NodeInfo publishes)."""
    return list((await session.scalars(select(Commune.insee).order_by(Commune.insee))).all())


async def find_commune(session: AsyncSession, insee: str) -> Commune | None:
    return await session.get(Commune, insee.strip().upper())


def describe(territory: Territory | None, communes: Sequence[Commune]) -> dict[str, Any]:
    """JSON-ready summary (`fediverse territory show --json`)."""
    return {
        "name": territory.name if territory else None,
        "kind": territory.kind if territory else None,
        "communes": [{"insee": c.insee, "name": c.name, "postal_codes": c.postal_code_list,
                      "latitude": c.latitude, "longitude": c.longitude} for c in communes],
    }


# ---------------------------------------------------------------------------------------------
# Distances
# ---------------------------------------------------------------------------------------------


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points in degrees (good to ~0.5% at commune scale)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def distance_km(a: Commune | CommuneRow, b: Commune | CommuneRow) -> float:
    """Distance between the centres of two communes."""
    return haversine_km(a.latitude, a.longitude, b.latitude, b.longitude)


def communes_within(centre: Commune | CommuneRow, radius_km: float,
                    communes: Iterable[Commune]) -> list[Commune]:
    """Communes whose centre is within `radius_km` of `centre` (itself included), nearest first."""
    near = [(distance_km(centre, c), c) for c in communes]
    return [c for d, c in sorted(near, key=lambda pair: (pair[0], pair[1].insee)) if d <= radius_km]
