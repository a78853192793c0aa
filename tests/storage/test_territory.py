"""Territory as data: the project's file loaded into regions, districts and synthetic mahallas."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from core.errors import NotFound
from core.services.territory import (
    import_mahallas,
    load_territory,
    mahalla_id_base,
    shipped_territory,
    synthetic_mahallas,
    territory_counts,
)
from core.storage.schema import District, Mahalla, Region
from core.storage.uow import Core


def test_the_file_gives_14_regions_and_208_district_level_units() -> None:
    territory = shipped_territory()
    assert len(territory.regions) == 14
    assert len(territory.districts) == 208
    skipped = {(s.name_uz, s.reason.split(":")[0]) for s in territory.skipped}
    assert skipped == {("Yangi Toshkent tumani", "no SOATO code"), ("Baxt shahri", "Baxt")}


def test_lookup_by_soato_refuses_unknown_codes() -> None:
    territory = shipped_territory()
    assert territory.region("1735").iso == "UZ-QR"
    assert territory.district("1735401").region_soato == "1735"
    with pytest.raises(NotFound) as err:
        territory.district("1724414")  # Baxt: left out
    assert err.value.code == "territory.unknown_district"
    assert err.value.params == {"soato": "1724414"}
    with pytest.raises(NotFound):
        territory.region("1799")


def test_synthetic_mahallas_are_deterministic_and_fit_their_ids() -> None:
    territory = shipped_territory()
    seen: set[int] = set()
    for district in territory.districts.values():
        mahallas = synthetic_mahallas(district, territory)
        assert mahallas == synthetic_mahallas(district, territory)
        assert 8 <= len(mahallas) <= 40
        assert len({m.name_uz for m in mahallas}) == len(mahallas)
        ids = {m.id for m in mahallas}
        assert not ids & seen and max(ids) < 2**31
        seen |= ids
    assert mahalla_id_base("1735401") == 1735401000
    # The 10-digit districts inside Namangan city take blocks inside the city's range.
    assert mahalla_id_base("1714401365") // 1000 == 1714401


async def test_load_territory_is_idempotent(core: Core) -> None:
    first = await load_territory(core)
    assert (first.regions, first.districts) == (14, 208)
    assert first.mahallas_added > 208 * 8
    counts = await territory_counts(core)
    again = await load_territory(core)
    assert again.mahallas_added == 0
    assert await territory_counts(core) == counts == {
        "regions": 14, "districts": 208, "mahallas": first.mahallas_added}

    async with core.sessions() as s:
        regions = (await s.scalars(select(Region))).all()
        assert {r.iso for r in regions} >= {"UZ-TK", "UZ-QR", "UZ-AN"}
        assert all(r.iso.startswith("UZ-") and r.name_uz and r.name_ru and r.name_en for r in regions)
        karakalpakstan = await s.get(Region, "1735")
        assert karakalpakstan is not None and karakalpakstan.name_kaa
        andijon = await s.get(Region, "1703")
        assert andijon is not None and andijon.name_kaa is None  # kept NULL where not known
        nukus = await s.get(District, "1735401")
        assert nukus is not None and nukus.kind == "city" and nukus.name_kaa and nukus.name_ru
        kinds = dict((await s.execute(select(District.kind, func.count()).group_by(District.kind))).all())
        assert kinds == {"district": 177, "city": 31}
        assert await s.scalar(select(func.count()).select_from(District).where(District.uncertain)) >= 5


async def test_a_real_mahalla_list_replaces_nothing_it_does_not_name(core: Core) -> None:
    await load_territory(core)
    text = "id,district_soato,name_uz,name_ru,name_kaa\n1735401990,1735401,Oʻzbekiston,Узбекистан,Ózbekstan\n"
    assert await import_mahallas(core, io.StringIO(text)) == 1
    async with core.sessions() as s:
        row = await s.get(Mahalla, 1735401990)
        assert row is not None and row.name_kaa == "Ózbekstan"
    with pytest.raises(NotFound):
        await import_mahallas(core, io.StringIO("id,district_soato,name_uz,name_ru,name_kaa\n5,1799001,X,,\n"))
