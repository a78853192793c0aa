"""A client's key can be replaced: a revoked or expired client is added again with a new key, an
active one has its key rotated; an agency client is named after a catalogue agency."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select

from core.storage.schema import ApiClient, AuditEntry
from tests.api.conftest import Api
from tests.api.test_access import problem
from tests.cli import run_cli


async def works(api: Api, key: str) -> bool:
    resp = await api.http.get("/v1/regions", headers={"Authorization": f"Bearer {key}"})
    return resp.status == 200


async def test_a_revoked_agency_is_given_a_new_key_by_adding_it_again(api: Api) -> None:
    first = await (await api.post("/v1/clients", {"name": "bank", "role": "agency"}, "admin")).json()
    assert (await api.post("/v1/clients/bank/revoke", None, "admin")).status == 200
    again = await api.post("/v1/clients", {"name": "bank", "role": "agency", "expires_days": 90}, "admin")
    assert again.status == 201, await again.text()
    second = await again.json()
    assert second["active"] and second["revoked_at"] is None and second["expires_at"]
    assert second["key"] != first["key"] and await works(api, second["key"]) and not await works(api, first["key"])
    await problem(await api.post("/v1/clients", {"name": "bank", "role": "agency"}, "admin"), 409, "client.exists")
    async with api.core.uow() as uow:
        assert len((await uow.session.scalars(select(ApiClient.id).where(ApiClient.name == "bank"))).all()) == 1
        actions = (await uow.session.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == "bank")
                                              .order_by(AuditEntry.id))).all()
    assert list(actions) == ["client.added", "client.revoked", "client.reissued"]


async def test_an_active_client_s_key_is_rotated_and_the_old_one_stops_at_once(api: Api) -> None:
    old = api.keys["agency"]
    assert await works(api, old)  # now in this process's key cache
    resp = await api.post("/v1/clients/soliq/rotate", None, "admin", **{"Idempotency-Key": "rot-1"})
    assert resp.status == 200, await resp.text()
    rotated = await resp.json()
    assert rotated["role"] == "agency" and rotated["active"] and rotated["key"].startswith("spsr_")
    assert await works(api, rotated["key"]) and not await works(api, old)
    replay = await api.post("/v1/clients/soliq/rotate", None, "admin", **{"Idempotency-Key": "rot-1"})
    assert (await replay.json())["key"] is None  # a key is never stored in clear
    assert (await api.post("/v1/clients/hotline-1/revoke", None, "admin")).status == 200
    await problem(await api.post("/v1/clients/hotline-1/rotate", None, "admin"), 409, "client.inactive")
    await problem(await api.post("/v1/clients/nobody/rotate", None, "admin"), 404, "client.not_found")


async def test_a_rotation_may_keep_the_old_key_working_for_a_while(api: Api) -> None:
    """A planned rotation: the agency moves its systems to the new key while the old one still
    works; the old one stops when its hours are up, or at the next rotation, or with the client."""
    old = api.keys["agency"]
    assert await works(api, old)  # in this process's key cache, as a busy agency's key is
    resp = await api.post("/v1/clients/soliq/rotate", {"keep_old_hours": 24}, "admin")
    assert resp.status == 200, await resp.text()
    rotated = await resp.json()
    until = dt.datetime.fromisoformat(rotated["previous_key_until"])
    assert until == api.core.clock.now() + dt.timedelta(hours=24)
    assert await works(api, rotated["key"]) and await works(api, old)
    listed = {c["name"]: c for c in (await (await api.get("/v1/clients", "admin")).json())["items"]}
    assert listed["soliq"]["previous_key_until"] == rotated["previous_key_until"]  # in Tashkent time on either database
    api.core.clock.advance(dt.timedelta(hours=24))  # type: ignore[attr-defined]
    assert await works(api, rotated["key"]) and not await works(api, old)
    # Kept again, then a rotation without hours (the new key leaked): both earlier keys stop now.
    second = await (await api.post("/v1/clients/soliq/rotate", {"keep_old_hours": 720}, "admin")).json()
    third = await (await api.post("/v1/clients/soliq/rotate", None, "admin")).json()
    assert third["previous_key_until"] is None
    assert [await works(api, k) for k in (rotated["key"], second["key"], third["key"])] == [False, False, True]
    # A kept key stops with its client.
    fourth = await (await api.post("/v1/clients/soliq/rotate", {"keep_old_hours": 1}, "admin")).json()
    assert await works(api, third["key"]) and await works(api, fourth["key"])
    assert (await api.post("/v1/clients/soliq/revoke", None, "admin")).status == 200
    assert not await works(api, third["key"]) and not await works(api, fourth["key"])
    for body, code in (({"keep_old_hours": 721}, "body.maximum"), ({"keep_old_hours": -1}, "body.minimum"),
                       ({"keep_old_hours": "24"}, "body.type"), ({"keep": 1}, "body.unknown_field")):
        await problem(await api.post("/v1/clients/hotline-1/rotate", body, "admin"), 422, code)
    async with api.core.uow() as uow:
        details = (await uow.session.scalars(select(AuditEntry.details).where(
            AuditEntry.entity_id == "soliq", AuditEntry.action == "client.rotated").order_by(AuditEntry.id))).all()
    assert [d["keep_old_hours"] for d in details] == [24, 720, 0, 1]


async def test_a_kept_key_stops_no_later_than_its_client(api: Api) -> None:
    old = api.keys["agency"]
    resp = await api.post("/v1/clients/soliq/rotate", {"keep_old_hours": 720, "expires_days": 1}, "admin")
    assert resp.status == 200, await resp.text()
    assert await works(api, old)
    api.core.clock.advance(dt.timedelta(days=1, seconds=1))  # type: ignore[attr-defined]
    assert not await works(api, old) and not await works(api, (await resp.json())["key"])


@pytest.mark.parametrize("name", ["SOLIQ2", "Soliq", "xalq-bank"])
async def test_an_agency_client_is_named_after_a_catalogue_agency(api: Api, name: str) -> None:
    body = await problem(await api.post("/v1/clients", {"name": name, "role": "agency"}, "admin"), 422,
                         "client.not_agency")
    assert "soliq" in body["params"]["agencies"]
    assert (await api.post("/v1/clients", {"name": name, "role": "hotline"}, "admin")).status == 201


async def test_the_command_line_adds_again_rotates_and_refuses_alike(
        api: Api, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPSR_DATABASE_URL", database_url)

    async def spsr(*argv: str) -> tuple[int, str, str]:
        return await asyncio.to_thread(run_cli, "clients", *argv)

    code, out, _ = await spsr("add", "SOLIQ2", "--role", "agency")
    assert code == 1 and "client.not_agency" in out
    code, out, _ = await spsr("add", "pensiya", "--role", "agency")
    first = out.split("store it now): ")[1].strip()
    assert code == 0 and "new key" not in out
    assert (await spsr("revoke", "pensiya"))[0] == 0
    code, out, _ = await spsr("add", "pensiya", "--role", "agency", "--expires", "30")
    second = out.split("store it now): ")[1].strip()
    assert code == 0 and "it was revoked or expired: this is its new key" in out
    code, out, _ = await spsr("rotate", "pensiya")
    third = out.split("store it now): ")[1].strip()
    assert code == 0 and "the old key no longer works" in out
    assert [await works(api, k) for k in (first, second, third)] == [False, False, True]
    code, out, _ = await spsr("rotate", "pensiya", "--keep-old", "48")
    fourth = out.split("store it now): ")[1].strip()
    assert code == 0 and "the old key works until " in out, out
    assert [await works(api, k) for k in (third, fourth)] == [True, True]
    code, out, _ = await spsr("list")
    assert code == 0 and "the old key works until " in out.split("pensiya")[1].splitlines()[0]
    with pytest.raises(SystemExit) as refused:  # argparse's refusal, with its usage line
        await spsr("rotate", "pensiya", "--keep-old", "721")
    assert refused.value.code == 2
    code, out, _ = await spsr("add", "pensiya", "--role", "agency")
    assert code == 1 and "client.exists" in out
