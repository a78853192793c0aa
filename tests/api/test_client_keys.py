"""A client's key can be replaced: a revoked or expired client is added again with a new key, an
active one has its key rotated; an agency client is named after a catalogue agency."""

from __future__ import annotations

import asyncio

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
    code, out, _ = await spsr("add", "pensiya", "--role", "agency")
    assert code == 1 and "client.exists" in out
