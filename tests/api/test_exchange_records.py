"""``POST /v1/exchange/records``: a record means the same alone, in a batch and in a file; one
entry refused never costs the batch; nothing a sender writes makes a server error."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from core.storage.schema import ExchangeRecord
from tests.api.conftest import Api
from tests.api.test_access import problem
from tests.storage.factories import make_family


def wage(pinfl: str, record_id: str, value: Any = 700_000, **extra: Any) -> dict[str, Any]:
    return {"item": "soliq.wage", "pinfl": pinfl, "key": "2026-11/301234567", "value": value, "unit": "UZS",
            "as_of": "2026-12-05", "record_id": record_id, **extra}


async def test_a_batch_entry_is_held_to_the_single_record_s_schema_and_refused_alone(api: Api) -> None:
    _, head = await make_family(api.core)
    await problem(await api.post("/v1/exchange/records", {**wage(head, "S-1"), "pinfl": int(head)}, "agency"),
                  422, "body.type")
    entries = [
        wage(head, "B-0"),
        {**wage(head, "B-1"), "pinfl": int(head)},
        {**wage(head, "B-2"), "colour": "red"},
        "not a record",
        {**wage(head, "B-4"), "agency": None},
        {**wage(head, "B-5", key="2026-10/301234567"), "agency": " soliq "},
    ]
    resp = await api.post("/v1/exchange/records", {"records": entries}, "agency")
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert result["accepted"] == 2
    assert [(r["index"], r["code"], r["params"].get("pointer")) for r in result["rejected"]] == [
        (1, "body.type", "/pinfl"), (2, "body.unknown_field", "/colour"), (3, "exchange.not_an_object", None),
        (4, "body.type", "/agency")]
    resp = await api.post("/v1/exchange/records", {**wage(head, "S-2", key="2026-09/301234567"), "agency": " soliq"},
                          "agency")
    assert resp.status == 200 and (await resp.json())["accepted"] == 1


async def test_the_answer_names_the_unchanged_stale_and_expired_records(api: Api) -> None:
    _, head = await make_family(api.core)
    await api.post("/v1/exchange/records", {"records": [wage(head, "A"), wage(head, "B", as_of="2026-12-08")]},
                   "agency")
    batch = [wage(head, "A"), wage(head, "C", as_of="2026-12-01"), wage(head, "D", as_of="2020-01-01",
                                                                        key="2019-12/301234567"),
             wage(head, "E", key="2026-10/301234567")]
    result = await (await api.post("/v1/exchange/records", {"records": batch}, "agency")).json()
    assert (result["accepted"], result["unchanged"], result["stale"], result["expired"]) == (3, 1, 1, 1)
    assert (result["unchanged_indexes"], result["stale_indexes"], result["expired_indexes"]) == ([0], [1], [2])


async def test_text_a_database_cannot_hold_is_a_refusal_not_a_server_error(api: Api) -> None:
    _, head = await make_family(api.core)
    auth = {**api.auth("agency"), "Content-Type": "application/json"}
    for body in (b'{"records": [' + json.dumps(wage(head, "x")).encode()[:-1] + b', "agency": "so\\udc00liq"}]}',
                 json.dumps(wage(head, "N\u0000UL")).encode(), json.dumps(wage(head, "x\udc00")).encode()):
        resp = await api.http.post("/v1/exchange/records", data=body, headers=auth)
        assert resp.status in (200, 422), await resp.text()


async def test_the_same_batch_sent_twice_at_once_is_never_a_server_error(api: Api) -> None:
    _, head = await make_family(api.core)
    batch = {"records": [wage(head, f"T-{n}", key=f"2026-11/30{n:07d}") for n in range(500)]}
    answers = await asyncio.gather(*(api.post("/v1/exchange/records", batch, "agency") for _ in range(2)))
    assert [a.status for a in answers] == [200, 200]
    results = sorted([((r := await a.json())["accepted"], r["unchanged"]) for a in answers])
    assert results == [(0, 500), (500, 0)]


async def test_a_refused_record_is_explained_in_the_caller_s_language(api: Api) -> None:
    _, head = await make_family(api.core)
    generic = {"uz": "Soʻrov notoʻgʻri.", "ru": "Неверный запрос."}
    for language in ("uz", "ru"):
        resp = await api.post("/v1/exchange/records", wage(head, "F-1", as_of="2027-01-01"), "agency",
                              **{"Accept-Language": language})
        body = await problem(resp, 422, "exchange.future_as_of")
        assert body["title"] != generic[language], body
    # A batch names each refusal's reason in words as well as by its code.
    batch = {"records": [wage(head, "F-2", as_of="2027-01-01"), wage(head, "F-3", value=-1)]}
    result = await (await api.post("/v1/exchange/records", batch, "agency", **{"Accept-Language": "ru"})).json()
    assert [r["code"] for r in result["rejected"]] == ["exchange.future_as_of", "exchange.bad_value"]
    assert all(r["title"] and r["title"] != generic["ru"] for r in result["rejected"]), result


def test_every_refusal_of_an_agency_record_has_its_own_title() -> None:
    from core.exchange import EXCHANGE_ERROR_CODES
    from core.i18n import use_locale
    from core.services.exchange import EXCHANGE_SERVICE_ERROR_CODES
    from registry_api.problems import title_of

    # Codes only a file import gives (its lines, its encoding) or a broken catalogue never reach the API;
    # a field named twice does, in an object value sent as a JSON string.
    file_only = {"exchange.malformed_line", "exchange.truncated_line", "exchange.not_utf8", "exchange.catalogue"}
    codes = sorted(set(EXCHANGE_ERROR_CODES + EXCHANGE_SERVICE_ERROR_CODES) - file_only) + ["idempotency.key_format"]
    for language in ("uz", "kaa", "ru"):
        with use_locale(language):
            generic = title_of("no.such_code", "invalid")
            titles = {code: title_of(code, "invalid") for code in codes}
            assert [c for c, t in titles.items() if t == generic] == [], language


async def test_a_registry_too_busy_to_take_a_batch_says_so_and_when_to_retry(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from core.services import exchange as exchange_service

    _, head = await make_family(api.core)
    # SQLite's write lock still held by another writer after the busy timeout; PostgreSQL's pool empty.
    for error in (OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked")),
                  PoolTimeout("QueuePool limit of size 20 overflow 20 reached")):
        async def busy(*_args: Any, _error: Exception = error, **_kwargs: Any) -> Any:
            raise _error

        monkeypatch.setattr(exchange_service, "ingest", busy)
        resp = await api.post("/v1/exchange/records", {"records": [wage(head, "BUSY-1")]}, "agency",
                              **{"Accept-Language": "ru"})
        body = await problem(resp, 503, "server.busy")
        assert int(resp.headers["Retry-After"]) > 0
        assert body["title"] != "Внутренняя ошибка. Запрос не выполнен.", body


async def test_a_padded_as_of_date_is_trimmed_as_every_field_is_and_as_a_file_line_s_is(api: Api) -> None:
    _, head = await make_family(api.core)
    resp = await api.post("/v1/exchange/records", wage(head, "PAD-1", as_of=" 2026-12-05 "), "agency")
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["accepted"] == 1


async def test_one_idempotency_key_on_two_batches_at_once_stores_only_the_batch_it_answers_for(api: Api) -> None:
    _, head = await make_family(api.core)
    first = {"records": [wage(head, f"K1-{n}", key=f"2026-11/31{n:07d}") for n in range(300)]}
    second = {"records": [wage(head, f"K2-{n}", key=f"2026-10/31{n:07d}") for n in range(300)]}
    answers = await asyncio.gather(*(api.post("/v1/exchange/records", body, "agency", **{"Idempotency-Key": "same"})
                                     for body in (first, second)))
    statuses = [a.status for a in answers]
    assert sorted(statuses) == [200, 422], [await a.text() for a in answers]
    refused = (first, second)[statuses.index(422)]
    async with api.core.uow() as uow:
        stored = set((await uow.session.scalars(select(ExchangeRecord.agency_record_id))).all())
    # The request answered "key reused" changed nothing.
    assert not stored & {r["record_id"] for r in refused["records"]}


async def test_births_and_moves_are_taken_and_refused_as_the_file_import_takes_and_refuses_them(
        api: Api, monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Any) -> None:
    import datetime as dt

    from core.storage.schema import Person
    from tests.api.conftest import add_key
    from tests.cli import run_cli
    from tests.storage.factories import pinfl_for

    household_id, head = await make_family(api.core)
    other_family, other_head = await make_family(api.core, phone="+998901234568")
    async with api.core.uow() as uow:
        mother = await uow.session.scalar(select(Person.pinfl).where(Person.household_id == household_id,
                                                                     Person.relation == "spouse"))
    assert mother is not None
    api.keys["fhdyo"] = await add_key(api.core, "fhdyo", "agency")
    child, stranger = pinfl_for(dt.date(2026, 11, 20), "f"), pinfl_for(dt.date(1990, 4, 4), "f")

    def birth(record_id: str, **value: Any) -> dict[str, Any]:
        return {"item": "fhdyo.birth", "pinfl": child, "as_of": "2026-11-25", "record_id": record_id,
                "value": {"birth_date": "2026-11-20", "sex": "f", "surname": "Karimova", "given_name": "Malika",
                          **value}}

    def member(record_id: str, who: str, of: str) -> dict[str, Any]:
        return {"item": "fhdyo.household_member", "pinfl": who, "value": of, "as_of": "2026-12-01",
                "record_id": record_id}

    refused = [birth("R-1", mother=stranger), birth("R-2", mother=mother, sex="m"),
               {**birth("R-3", mother=mother), "as_of": "2026-11-19"}, member("R-4", head, stranger)]
    taken = [birth("B-1", mother=mother), member("M-1", head, other_head)]
    codes = ["exchange.unknown_parent", "exchange.birth_mismatch", "exchange.born_after_as_of",
             "exchange.unknown_head"]

    # One record alone: a problem in the caller's language.
    body = await problem(await api.post("/v1/exchange/records", refused[0], "fhdyo", **{"Accept-Language": "ru"}),
                         422, "exchange.unknown_parent")
    assert body["title"] == "Ни один из родителей, указанных в записи о рождении, не зарегистрирован, поэтому " \
                            "ребёнка нельзя добавить в семью."
    result = await (await api.post("/v1/exchange/records", {"records": refused}, "fhdyo",
                                   **{"Accept-Language": "uz"})).json()
    assert [(r["index"], r["code"]) for r in result["rejected"]] == list(enumerate(codes))
    assert all(r["title"] != "Soʻrov notoʻgʻri." for r in result["rejected"]), result

    # The same records in a file are refused alike (a refusal wrote nothing, so the registry is as it was).
    monkeypatch.setenv("SPSR_DATABASE_URL", database_url)
    monkeypatch.setenv("SPSR_TODAY", "2026-12-10")

    async def import_file(name: str, records: list[dict[str, Any]]) -> list[str]:
        path = tmp_path / name
        path.write_text("".join(json.dumps({"agency": "fhdyo", **r}) + "\n" for r in records))
        await asyncio.to_thread(run_cli, "exchange", "import", str(path))
        rejected = tmp_path / (name + ".rejected.jsonl")
        return [json.loads(line)["code"] for line in rejected.read_text().splitlines()] if rejected.exists() else []

    assert await import_file("refused.jsonl", refused) == codes
    # The good ones from a file, then through the API: taken once, then unchanged.
    assert await import_file("taken.jsonl", taken) == []
    result = await (await api.post("/v1/exchange/records", {"records": taken}, "fhdyo")).json()
    assert (result["accepted"], result["unchanged"], result["rejected"]) == (0, 2, [])
    async with api.core.uow() as uow:
        where = dict((await uow.session.execute(select(Person.pinfl, Person.household_id).where(
            Person.pinfl.in_([child, head])))).all())
        assert int(await uow.session.scalar(select(func.count()).select_from(Person)) or 0) == 5
    assert where == {child: household_id, head: other_family}
