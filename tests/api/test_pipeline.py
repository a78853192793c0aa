"""The request pipeline's costs and caches: one connection per request, reads audited by group
commit, 304 for a current If-None-Match, idempotency records committed with their use case."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select

from core.storage.schema import AuditEntry, Grievance, IdempotencyRecord
from registry_api.audit import READ_AUDIT
from registry_api.http import not_modified
from tests.api.conftest import Api
from tests.api.test_access import problem
from tests.storage.factories import make_family

pytestmark = pytest.mark.postgres

GRIEVANCE = {"category": "payment", "text": "Pul kelmadi", "phone": "+998901234567"}


@contextmanager
def checkouts(api: Api) -> Iterator[list[int]]:
    """How many pooled connections the block takes: one per transaction."""
    taken: list[int] = []
    pool = api.core.engine.sync_engine.pool

    def on_checkout(*_: object) -> None:
        taken.append(1)

    event.listen(pool, "checkout", on_checkout)
    try:
        yield taken
    finally:
        event.remove(pool, "checkout", on_checkout)


async def count(api: Api, model: type, *where: object) -> int:
    async with api.core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_a_read_takes_one_connection(api: Api) -> None:
    assert (await api.get("/v1/grievances", "hotline")).status == 200  # the key is now cached
    with checkouts(api) as taken:
        assert (await api.get("/v1/grievances", "hotline")).status == 200
        assert (await api.get("/v1/regions", "hotline")).status == 200
    assert len(taken) == 2


async def test_a_person_read_takes_its_connection_and_a_share_of_one_audit_write(api: Api) -> None:
    _, head = await make_family(api.core)
    assert (await api.get("/v1/regions", "agency")).status == 200
    with checkouts(api) as taken:
        assert (await api.get(f"/v1/persons/{head}", "agency")).status == 200
    assert len(taken) == 2
    assert await count(api, AuditEntry, AuditEntry.action == "person.read") == 1


async def test_a_state_change_commits_with_its_idempotency_record_in_one_transaction(api: Api) -> None:
    assert (await api.get("/v1/regions", "hotline")).status == 200
    with checkouts(api) as taken:
        resp = await api.post("/v1/grievances", GRIEVANCE, **{"Idempotency-Key": "g-1"})
    assert resp.status == 201 and len(taken) == 1
    assert await count(api, IdempotencyRecord) == 1
    again = await api.post("/v1/grievances", GRIEVANCE, **{"Idempotency-Key": "g-1"})
    assert again.headers["Idempotency-Replayed"] == "true"
    assert (await again.json())["number"] == (await resp.json())["number"]
    assert await count(api, Grievance) == 1


async def test_a_refused_state_change_leaves_no_idempotency_record(api: Api) -> None:
    body = {"category": "payment", "text": "x"}  # anonymous: refused by the core
    await problem(await api.post("/v1/grievances", body, **{"Idempotency-Key": "g-2"}), 422, "grievance.anonymous")
    assert await count(api, IdempotencyRecord) == 0


async def test_concurrent_person_reads_share_audit_transactions_and_all_are_recorded(api: Api) -> None:
    _, head = await make_family(api.core)
    assert (await api.get("/v1/regions", "agency")).status == 200
    writer = api.http.app[READ_AUDIT]
    before = writer.batches
    answers = await asyncio.gather(*(api.get(f"/v1/persons/{head}", "agency") for _ in range(24)))
    assert [r.status for r in answers] == [200] * 24
    assert await count(api, AuditEntry, AuditEntry.action == "person.read") == 24
    assert writer.batches - before < 24


async def test_a_read_whose_audit_cannot_be_written_is_not_answered(api: Api,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _, head = await make_family(api.core)
    writer = api.http.app[READ_AUDIT]

    class Broken:
        def uow(self, **_: object) -> object:
            raise RuntimeError("disk full")

    monkeypatch.setattr(writer, "core", Broken())
    resp = await api.get(f"/v1/persons/{head}", "agency")
    body = await problem(resp, 500, "server.error")
    assert "Karimov" not in str(body)


@pytest.mark.parametrize(("header", "current", "expected"), [
    ('"3"', '"3"', True), ('W/"3"', '"3"', True), ('"2", "3"', '"3"', True), ("*", '"3"', True),
    ('"2"', '"3"', False), ("", '"3"', False), ('"3"', None, False), ('W/"abc"', 'W/"abc"', True),
])
def test_if_none_match_uses_the_weak_comparison(header: str, current: str | None, expected: bool) -> None:
    assert not_modified(header, current) is expected


async def test_a_current_if_none_match_answers_304_without_a_body(api: Api) -> None:
    await api.post("/v1/grievances", GRIEVANCE)
    listing = await api.get("/v1/grievances", "hotline")
    tag = listing.headers["ETag"]
    resp = await api.get("/v1/grievances", "hotline", **{"If-None-Match": tag})
    assert resp.status == 304 and resp.headers["ETag"] == tag and await resp.read() == b""
    # The list changed: the old tag no longer matches.
    await api.post("/v1/grievances", {**GRIEVANCE, "text": "Yana"})
    assert (await api.get("/v1/grievances", "hotline", **{"If-None-Match": tag})).status == 200


async def test_a_versioned_resource_answers_304_until_it_changes(api: Api) -> None:
    created = await api.post("/v1/grievances", GRIEVANCE)
    number, tag = (await created.json())["number"], created.headers["ETag"]
    url = f"/v1/grievances/{number}"
    assert (await api.get(url, "hotline", **{"If-None-Match": tag})).status == 304
    assigned = await api.post(url + "/assign", {"staff": "aziz"}, **{"If-Match": tag})
    resp = await api.get(url, "hotline", **{"If-None-Match": tag})
    assert resp.status == 200 and resp.headers["ETag"] == assigned.headers["ETag"]


async def test_a_304_person_read_is_still_audited(api: Api) -> None:
    _, head = await make_family(api.core)
    tag = (await api.get(f"/v1/persons/{head}", "agency")).headers["ETag"]
    assert (await api.get(f"/v1/persons/{head}", "agency", **{"If-None-Match": tag})).status == 304
    assert await count(api, AuditEntry, AuditEntry.action == "person.read") == 2
