"""Territory as data: regions, district-level units and mahallas, loaded from the project's files.

``core/data/territory.csv`` (see ``/work/shared/data/README.md`` for its sources) lists the 14
regions and every district-level unit. Two rows are left out: rows without a SOATO code (Yangi
Toshkent tumani, created in 2024 per the press, no code published) and the rows in
:data:`EXCLUDED_SOATO` (Baxt, which only one source lists). That leaves 14 regions and 208
district-level units; what was skipped is counted, logged and returned.

There is no public list of mahallas. Until a real one is imported with :func:`import_mahallas`,
:func:`synthetic_mahallas` makes a plausible, deterministic set per district from
``core/data/mahalla_names.csv`` (common real mahalla names; the Karakalpak forms are our own,
unverified) and the approximate region populations in ``core/data/population.csv``.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from core.errors import InvalidInput, NotFound
from core.storage.schema import District, Mahalla, Region
from core.storage.uow import Core

log = logging.getLogger(__name__)

TERRITORY_ERROR_CODES: tuple[str, ...] = (
    "territory.unknown_district",
    "territory.unknown_region",
    "territory.mahalla_file",
)

# Rows of territory.csv left out although they carry a code, with why (see the data README).
EXCLUDED_SOATO: Mapping[str, str] = {
    "1724414": "Baxt: only MIMAXUZ lists it; the SOATO tree and ORS do not, others call it a town under a district",
}

MIN_MAHALLAS = 8
MAX_MAHALLAS = 40
# People per synthetic mahalla, for the count per district (clamped to 8..40).
PEOPLE_PER_MAHALLA = 7000


@dataclass(frozen=True, slots=True)
class RegionRow:
    soato: str
    iso: str
    name_uz: str
    name_ru: str
    name_kaa: str | None
    name_en: str


@dataclass(frozen=True, slots=True)
class DistrictRow:
    soato: str
    region_soato: str
    kind: str  # district | city
    name_uz: str
    name_ru: str
    name_kaa: str | None
    name_en: str
    uncertain: bool


@dataclass(frozen=True, slots=True)
class SkippedRow:
    level: str
    soato: str
    name_uz: str
    reason: str


@dataclass(frozen=True, slots=True)
class MahallaRow:
    id: int
    district_soato: str
    name_uz: str
    name_ru: str | None
    name_kaa: str | None


@dataclass(frozen=True)
class Territory:
    """The regions and district-level units of the territory file, looked up by SOATO code."""

    regions: Mapping[str, RegionRow]
    districts: Mapping[str, DistrictRow]
    skipped: tuple[SkippedRow, ...] = ()

    def region(self, soato: str) -> RegionRow:
        row = self.regions.get(soato.strip())
        if row is None:
            raise NotFound("territory.unknown_region", soato=soato)
        return row

    def district(self, soato: str) -> DistrictRow:
        row = self.districts.get(soato.strip())
        if row is None:
            raise NotFound("territory.unknown_district", soato=soato)
        return row

    def districts_of(self, region_soato: str) -> tuple[DistrictRow, ...]:
        self.region(region_soato)
        return tuple(d for d in self.districts.values() if d.region_soato == region_soato)


@dataclass(frozen=True)
class TerritoryLoad:
    """What :func:`load_territory` wrote."""

    regions: int
    districts: int
    mahallas_added: int
    skipped: tuple[SkippedRow, ...] = field(default=())


def _data_text(name: str) -> str:
    return resources.files("core").joinpath(f"data/{name}").read_text(encoding="utf-8")


def parse_territory(text: str, *, exclude: Mapping[str, str] = EXCLUDED_SOATO) -> Territory:
    """Read territory.csv text; rows without a code and excluded codes are skipped, not guessed."""
    regions: dict[str, RegionRow] = {}
    districts: dict[str, DistrictRow] = {}
    skipped: list[SkippedRow] = []
    for row in csv.DictReader(io.StringIO(text)):
        level, soato = row["level"].strip(), row["soato"].strip()
        if not soato:
            skipped.append(SkippedRow(level, "", row["name_uz"], "no SOATO code"))
            continue
        if soato in exclude:
            skipped.append(SkippedRow(level, soato, row["name_uz"], exclude[soato]))
            continue
        kaa = row["name_kaa"].strip() or None
        if level == "region":
            regions[soato] = RegionRow(soato, row["iso"].strip(), row["name_uz"], row["name_ru"], kaa, row["name_en"])
        elif level in ("district", "city"):
            districts[soato] = DistrictRow(
                soato=soato, region_soato=row["parent_soato"].strip(), kind=level, name_uz=row["name_uz"],
                name_ru=row["name_ru"], name_kaa=kaa, name_en=row["name_en"],
                uncertain="uncertain:" in row["source"],
            )
        else:
            skipped.append(SkippedRow(level, soato, row["name_uz"], f"unknown level {level!r}"))
    for d in districts.values():
        if d.region_soato not in regions:
            raise NotFound("territory.unknown_region", soato=d.region_soato)
    return Territory(regions, districts, tuple(skipped))


@functools.cache
def shipped_territory() -> Territory:
    """The project's territory file, read once per process."""
    return parse_territory(_data_text("territory.csv"))


@dataclass(frozen=True, slots=True)
class RegionProfile:
    """Approximate population and the synthetic shares of Russian / Karakalpak contacts."""

    soato: str
    population: int
    ru_share: float
    kaa_share: float


@functools.cache
def region_profiles() -> Mapping[str, RegionProfile]:
    """``core/data/population.csv``: approximate 2024 populations, used to weight synthetic data."""
    out: dict[str, RegionProfile] = {}
    for row in csv.DictReader(io.StringIO(_data_text("population.csv"))):
        out[row["region_soato"]] = RegionProfile(
            row["region_soato"], int(row["population"]), float(row["ru_share"]), float(row["kaa_share"])
        )
    return out


@functools.cache
def mahalla_names() -> tuple[tuple[str, str, str | None], ...]:
    """Common real mahalla names: (Uzbek, Russian, Karakalpak or None where not known)."""
    rows = csv.DictReader(io.StringIO(_data_text("mahalla_names.csv")))
    return tuple((r["name_uz"], r["name_ru"], r["name_kaa"] or None) for r in rows)


def district_weight(soato: str, region_population: int, units_in_region: int) -> float:
    """Approximate population of a district-level unit: its region's, shared evenly between the
    region's units, give or take 25 % by a stable hash of the code (no district figures are held)."""
    jitter = 0.75 + (zlib.crc32(soato.encode()) % 1000) / 2000
    return region_population / max(1, units_in_region) * jitter


def mahalla_id_base(district_soato: str) -> int:
    """First synthetic mahalla id of a district, ``SOATO × 1000``.

    ``mahallas.id`` is a 32-bit integer, so the two 10-digit codes inside Namangan city
    (17144013xx) cannot be multiplied by 1000: they take a block of 100 inside their city's
    range instead, ``1714401 × 1000 + 100 × (1 + xx mod 9)``, above the city's own mahallas
    (at most 99).
    """
    if len(district_soato) == 7:
        return int(district_soato) * 1000
    if len(district_soato) == 10:
        return int(district_soato[:7]) * 1000 + 100 * (1 + int(district_soato[7:]) % 9)
    raise InvalidInput("territory.unknown_district", soato=district_soato)


def synthetic_mahallas(district: DistrictRow, territory: Territory) -> list[MahallaRow]:
    """SYNTHETIC mahallas for one district, until a real list is imported (:func:`import_mahallas`).

    Deterministic: the count (8..40) follows the district's approximate population, names are
    drawn from the project's list of common real mahalla names in an order fixed by the code,
    and the ids are ``mahalla_id_base(soato) + n`` for n = 1, 2, …
    """
    units = sum(1 for d in territory.districts.values() if d.region_soato == district.region_soato)
    population = region_profiles()[district.region_soato].population
    count = round(district_weight(district.soato, population, units) / PEOPLE_PER_MAHALLA)
    count = max(MIN_MAHALLAS, min(MAX_MAHALLAS, count))
    names = list(mahalla_names())
    start = zlib.crc32(district.soato.encode()) % len(names)
    step = 7  # co-prime with the list length picks every name once before repeating
    base = mahalla_id_base(district.soato)
    out = []
    for n in range(1, count + 1):
        uz, ru, kaa = names[(start + (n - 1) * step) % len(names)]
        lap = (n - 1) // len(names)  # a longer list than names: "Navbahor 2"
        if lap:
            uz, ru, kaa = f"{uz} {lap + 1}", f"{ru} {lap + 1}", kaa and f"{kaa} {lap + 1}"
        out.append(MahallaRow(base + n, district.soato, uz, ru, kaa))
    return out


def _upsert(conn: AsyncConnection, table: Any, rows: Sequence[dict[str, Any]], key: str) -> Any:
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(table).values(list(rows))
    update = {c.name: stmt.excluded[c.name] for c in table.columns if c.name != key}
    return conn.execute(stmt.on_conflict_do_update(index_elements=[key], set_=update))


async def load_territory(core: Core, territory: Territory | None = None, *, synthetic: bool = True) -> TerritoryLoad:
    """Upsert regions and districts from the territory file; add synthetic mahallas to districts
    that have none. Running it again changes nothing."""
    territory = territory or shipped_territory()
    for s in territory.skipped:
        log.info("territory: skipped %s %s %s: %s", s.level, s.soato or "(no code)", s.name_uz, s.reason)
    added = 0
    async with core.engine.begin() as conn:
        await _upsert(conn, Region.__table__, [
            {"soato": r.soato, "iso": r.iso, "name_uz": r.name_uz, "name_ru": r.name_ru,
             "name_kaa": r.name_kaa, "name_en": r.name_en} for r in territory.regions.values()
        ], "soato")
        await _upsert(conn, District.__table__, [
            {"soato": d.soato, "region_soato": d.region_soato, "kind": d.kind, "name_uz": d.name_uz,
             "name_ru": d.name_ru, "name_kaa": d.name_kaa, "name_en": d.name_en, "uncertain": d.uncertain}
            for d in territory.districts.values()
        ], "soato")
        if synthetic:
            with_mahallas = set((await conn.scalars(select(Mahalla.district_soato).distinct())).all())
            rows = [
                {"id": m.id, "district_soato": m.district_soato, "name_uz": m.name_uz,
                 "name_ru": m.name_ru, "name_kaa": m.name_kaa}
                for d in territory.districts.values() if d.soato not in with_mahallas
                for m in synthetic_mahallas(d, territory)
            ]
            if rows:
                await conn.execute(insert(Mahalla), rows)
            added = len(rows)
    log.info("territory: %d regions, %d districts, %d mahallas added, %d rows skipped",
             len(territory.regions), len(territory.districts), added, len(territory.skipped))
    return TerritoryLoad(len(territory.regions), len(territory.districts), added, territory.skipped)


def read_mahalla_csv(source: str | Path | Iterable[str], territory: Territory | None = None) -> list[MahallaRow]:
    """Read a real mahalla list: columns ``id, district_soato, name_uz, name_ru, name_kaa``."""
    territory = territory or shipped_territory()
    lines: Iterable[str]
    if isinstance(source, str | Path):
        lines = io.StringIO(Path(source).read_text(encoding="utf-8"))
    else:
        lines = source
    out = []
    for i, row in enumerate(csv.DictReader(lines), start=2):
        try:
            mahalla_id = int(row["id"])
            district = territory.district(row["district_soato"])
            name_uz = row["name_uz"].strip()
        except (KeyError, ValueError, AttributeError):
            raise InvalidInput("territory.mahalla_file", line=i) from None
        if not name_uz:
            raise InvalidInput("territory.mahalla_file", line=i)
        out.append(MahallaRow(mahalla_id, district.soato, name_uz,
                              (row.get("name_ru") or "").strip() or None, (row.get("name_kaa") or "").strip() or None))
    return out


async def import_mahallas(core: Core, source: str | Path | Iterable[str]) -> int:
    """Import a real mahalla list (upsert by id); returns the number of rows read.

    Synthetic mahallas of the districts the list covers stay in place while households point
    at them; remove them with a migration of those households once the real list is checked.
    """
    rows = read_mahalla_csv(source)
    async with core.engine.begin() as conn:
        for start in range(0, len(rows), 2000):
            await _upsert(conn, Mahalla.__table__, [
                {"id": m.id, "district_soato": m.district_soato, "name_uz": m.name_uz,
                 "name_ru": m.name_ru, "name_kaa": m.name_kaa} for m in rows[start:start + 2000]
            ], "id")
    return len(rows)


async def territory_counts(core: Core) -> dict[str, int]:
    async with core.engine.connect() as conn:
        return {
            "regions": int(await conn.scalar(select(func.count()).select_from(Region)) or 0),
            "districts": int(await conn.scalar(select(func.count()).select_from(District)) or 0),
            "mahallas": int(await conn.scalar(select(func.count()).select_from(Mahalla)) or 0),
        }
