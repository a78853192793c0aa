"""Every resource through real HTTP: registry reads (audited), territory, applications and decisions,
grievances with If-Match, payments, exchange, statistics."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from core.services.payments import open_payroll
from core.storage.schema import Application, AuditEntry, Grievance, Region
from core.storage.uow import SYSTEM
from tests.api.conftest import Api
from tests.api.test_access import problem
from tests.storage.factories import MAHALLA_ID, make_family

pytestmark = pytest.mark.postgres


async def audit_count(api: Api, action: str) -> int:
    async with api.core.uow() as uow:
        return int(await uow.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)) or 0)


async def test_person_read_shows_agency_contributions_and_is_audited(api: Api) -> None:
    hid, head = await make_family(api.core, monthly_income=500_000)
    resp = await api.get(f"/v1/persons/{head}", "agency")
    assert resp.status == 200 and resp.headers["ETag"]
    body = await resp.json()
    assert body["household_id"] == hid and body["surname"] == "Karimov"
    assert {i["agency"] for i in body["contributions"]["incomes"]} == {"soliq"}
    assert await audit_count(api, "person.read") == 1
    log = await (await api.get(f"/v1/persons/{head}/access-log", "hotline")).json()
    assert [e["client"] for e in log["items"]] == ["soliq"]
    assert log["items"][0]["route"] == "/v1/persons/{pinfl}"


async def test_household_read_audits_every_member(api: Api) -> None:
    hid, _ = await make_family(api.core, children=(dt.date(2020, 1, 5),))
    body = await (await api.get(f"/v1/households/{hid}", "hotline")).json()
    assert len(body["members"]) == 3 and body["phone"] == "+998901234567"
    assert await audit_count(api, "person.read") == 3


@pytest.mark.parametrize(("pinfl", "code"), [
    ("30101990123458", "pinfl.check_digit"), ("123", "pinfl.format"), ("91210632040244", "pinfl.century")])
async def test_a_bad_pinfl_is_a_precise_problem_and_nothing_is_audited(api: Api, pinfl: str, code: str) -> None:
    await problem(await api.get(f"/v1/persons/{pinfl}", "agency"), 422, code)
    assert await audit_count(api, "person.read") == 0


async def test_unknown_person_and_household_are_404(api: Api) -> None:
    await problem(await api.get("/v1/persons/31210632040244", "agency"), 404, "person.not_found")
    await problem(await api.get("/v1/households/999", "agency"), 404, "household.not_found")
    await problem(await api.get("/v1/households/abc", "agency"), 422, "path.household_id")


async def test_territory_lists_page_with_cursors(api: Api) -> None:
    await make_family(api.core)
    async with api.core.uow() as uow:
        uow.session.add(Region(soato="1703", iso="UZ-AN", name_uz="Andijon viloyati", name_ru="Андижанская область",
                               name_kaa=None, name_en="Andijan"))
        await uow.commit()
    first = await (await api.get("/v1/regions?limit=1", "agency")).json()
    assert [r["soato"] for r in first["items"]] == ["1703"] and first["next"]
    second = await (await api.get(first["next"], "agency")).json()
    assert [r["soato"] for r in second["items"]] == ["1726"] and second["next"] is None
    districts = await (await api.get("/v1/regions/1726/districts", "agency")).json()
    assert districts["items"][0]["soato"] == "1726262"
    mahallas = await (await api.get("/v1/districts/1726262/mahallas", "agency")).json()
    assert mahallas["items"][0]["id"] == MAHALLA_ID
    await problem(await api.get("/v1/regions?cursor=!!!", "agency"), 422, "cursor.invalid")
    await problem(await api.get("/v1/regions?limit=0", "agency"), 422, "query.minimum")
    await problem(await api.get("/v1/regions?colour=red", "agency"), 422, "query.unknown")
    await problem(await api.get("/v1/regions/9999/districts", "agency"), 404, "territory.unknown_region")
    # The title names the fault, not just "Not found.", in the caller's language.
    titles = {lang: (await problem(await api.get("/v1/regions/9999/districts", "agency", **{"Accept-Language": lang}),
                                   404, "territory.unknown_region"))["title"] for lang in ("uz", "kaa", "ru")}
    assert titles == {"uz": "Bunday viloyat yoʻq.", "kaa": "Bunday wálayat joq.", "ru": "Такой области нет."}


async def test_application_is_created_read_and_decided_with_reasons(api: Api) -> None:
    hid, head = await make_family(api.core, children=(dt.date(2024, 5, 1), dt.date(2019, 2, 2)),
                                  monthly_income=300_000)
    resp = await api.post("/v1/applications", {"pinfl": head, "language": "ru"}, "hotline",
                          **{"Idempotency-Key": "app-1"})
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    number, etag = created["number"], resp.headers["ETag"]
    again = await api.post("/v1/applications", {"pinfl": head, "language": "ru"}, "hotline",
                           **{"Idempotency-Key": "app-1"})
    assert again.status == 201 and (await again.json())["number"] == number
    assert again.headers["Idempotency-Replayed"] == "true"
    await problem(await api.post("/v1/applications", {"pinfl": head, "language": "uz"}, "hotline",
                                 **{"Idempotency-Key": "app-1"}), 422, "idempotency.key_reused")
    await problem(await api.post("/v1/applications", {"pinfl": head}, "hotline"), 409,
                  "application.duplicate_month")
    read = await api.get(f"/v1/applications/{number}", "agency")
    assert read.headers["ETag"] == etag
    await problem(await api.post(f"/v1/applications/{number}/decision", None, "operator"), 428,
                  "precondition.required")
    await problem(await api.post(f"/v1/applications/{number}/decision", None, "operator", **{"If-Match": '"99"'}),
                  412, "application.stale")
    decided = await api.post(f"/v1/applications/{number}/decision", None, "operator", **{"If-Match": etag})
    assert decided.status == 200, await decided.text()
    body = await decided.json()
    assert body["state"] == "approved" and body["decision"]["eligible"] is True
    assert body["decision"]["reasons"] and body["decision"]["inputs"]
    assert decided.headers["ETag"] != etag
    decisions = await (await api.get(f"/v1/households/{hid}/decisions", "auditor")).json()
    assert decisions["items"][0]["application_number"] == number
    async with api.core.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Application)) == 1

    # The family is paid from the frozen payroll of its first month.
    month = dt.date.fromisoformat(body["first_month"] + "-01")
    await open_payroll(api.core, month, SYSTEM)
    cycles = await (await api.get("/v1/payment-cycles", "operator")).json()
    assert cycles["items"][0]["month"] == body["first_month"] and cycles["items"][0]["line_count"] == 1
    lines = await (await api.get(f"/v1/payment-cycles/{body['first_month']}/lines", "auditor")).json()
    assert lines["items"][0]["household_id"] == hid
    history = await (await api.get(f"/v1/households/{hid}/payments", "hotline")).json()
    assert history["items"][0]["amount"] == body["decision"]["monthly_amount"]
    await problem(await api.get("/v1/payment-cycles/2020-01", "operator"), 404, "payroll.not_found")
    stats = await (await api.get("/v1/statistics", "operator")).json()
    assert stats["families"] == [{"region_soato": "1726", "programme": body["programme"], "families": 1,
                                  "persons": 4}] or stats["families"] == []
    assert stats["payments"][0]["lines"] == 1


async def test_grievance_life_with_if_match_and_filters(api: Api) -> None:
    hid, _ = await make_family(api.core)
    resp = await api.post("/v1/grievances", {"category": "payment", "text": "Pul kelmadi", "household_id": hid})
    assert resp.status == 201, await resp.text()
    g = await resp.json()
    number, etag = g["number"], resp.headers["ETag"]
    url = f"/v1/grievances/{number}"
    await problem(await api.post(url + "/assign", {"staff": "aziz"}), 428, "precondition.required")
    assigned = await api.post(url + "/assign", {"staff": "aziz"}, **{"If-Match": etag})
    assert assigned.status == 200 and (await assigned.json())["assigned_to"] == "aziz"
    # A second staff member still holding the old ETag cannot overwrite the first one's work.
    await problem(await api.post(url + "/assign", {"staff": "malika"}, **{"If-Match": etag}), 412,
                  "grievance.stale")
    etag = assigned.headers["ETag"]
    extended = await api.post(url + "/extend", {"days": 30, "reason": "Bank tekshiruvi"}, **{"If-Match": etag})
    assert extended.status == 200 and (await extended.json())["extended"] is True
    etag = extended.headers["ETag"]
    escalated = await api.post(url + "/escalate", {"reason": "Tuman"}, **{"If-Match": etag})
    etag = escalated.headers["ETag"]
    replied = await api.post(url + "/reply", {"text": "Toʻlov 5-kuni oʻtkazildi."}, **{"If-Match": etag})
    assert (await replied.json())["state"] == "answered"
    etag = replied.headers["ETag"]
    await problem(await api.post(url + "/escalate", {}, **{"If-Match": etag}), 409, "grievance.transition")
    closed = await api.post(url + "/close", None, **{"If-Match": etag})
    assert (await closed.json())["state"] == "closed"
    reopened = await api.post(url + "/reopen", {"reason": "Pul kelmadi"}, **{"If-Match": closed.headers["ETag"]})
    assert (await reopened.json())["state"] == "in_progress"

    await api.post("/v1/grievances", {"category": "eligibility", "text": "Rad etildi", "phone": "+998901234567"})
    everything = await (await api.get("/v1/grievances?limit=1", "operator")).json()
    assert len(everything["items"]) == 1 and everything["next"]
    in_progress = await (await api.get("/v1/grievances?state=in_progress", "hotline")).json()
    assert [i["number"] for i in in_progress["items"]] == [number]
    by_category = await (await api.get("/v1/grievances?category=eligibility&region=1726", "hotline")).json()
    assert len(by_category["items"]) == 1
    assert (await (await api.get("/v1/grievances?overdue=true", "hotline")).json())["items"] == []
    assert len((await (await api.get("/v1/grievances?due_before=2027-12-31", "hotline")).json())["items"]) == 2
    await problem(await api.get("/v1/grievances?state=lost", "hotline"), 422, "query.enum")
    # A date is YYYY-MM-DD: Python's fromisoformat also reads ISO week dates and "20271231".
    for odd in ("2026-W01-1", "20271231", "2027-12-3１"):
        await problem(await api.get(f"/v1/grievances?due_before={odd}", "hotline"), 422, "query.format")
    read = await api.get(url, "auditor")
    assert read.headers["ETag"] == reopened.headers["ETag"]


async def test_bad_bodies_are_refused_and_nothing_is_written(api: Api) -> None:
    async def grievances() -> int:
        async with api.core.uow() as uow:
            return int(await uow.session.scalar(select(func.count()).select_from(Grievance)) or 0)

    auth = api.auth("hotline")
    resp = await api.http.post("/v1/grievances", data=b"{not json", headers={**auth, "Content-Type": "application/json"})
    await problem(resp, 400, "request.malformed_json")
    resp = await api.http.post("/v1/grievances", data=b"category=payment", headers=auth)
    await problem(resp, 415, "request.media_type")
    body = await problem(await api.post("/v1/grievances", {"category": "payment", "text": 5}), 422, "body.type")
    assert body["params"]["pointer"] == "/text"
    body = await problem(await api.post("/v1/grievances", {"category": "payment", "text": "x", "mood": 1}), 422,
                         "body.unknown_field")
    assert body["params"]["pointer"] == "/mood"
    await problem(await api.post("/v1/grievances", {"category": "payment", "text": "x"}), 422, "grievance.anonymous")
    # The same field twice: which one counts depends on the parser, so the body is refused whole.
    resp = await api.http.post("/v1/grievances", headers={**auth, "Content-Type": "application/json"},
                               data=b'{"category": "payment", "text": "x", "phone": "+998901234567", "text": "y"}')
    assert (await problem(resp, 400, "request.duplicate_key"))["params"]["key"] == "text"
    for constant in (b"NaN", b"Infinity", b"-Infinity"):  # Python reads them; JSON has no such values
        resp = await api.http.post("/v1/grievances", headers={**auth, "Content-Type": "application/json"},
                                   data=b'{"category": "payment", "text": "x", "phone": "+998901234567", "n": '
                                   + constant + b"}")
        await problem(resp, 400, "request.malformed_json")
    resp = await api.http.post("/v1/grievances", data=io.BytesIO(b"[" + b"1," * 600_000 + b"1]"),
                               headers={**auth, "Content-Type": "application/json"})
    await problem(resp, 413, "request.too_large")
    assert await grievances() == 0


async def test_a_households_assessment_decisions_name_the_agency_data_behind_them(api: Api) -> None:
    """A decision made by ``spsr assess`` (figures in columns, no member list) reads through the
    API with its figures and the agency, record and as-of date of each value it rested on."""
    from core.services.assessment import assess_households

    hid, head = await make_family(api.core, children=(dt.date(2025, 1, 1),))
    records = [{"item": "soliq.wage", "pinfl": head, "key": f"2026-{m}/301234567", "value": 400_000,
                "unit": "UZS", "as_of": "2026-12-05", "record_id": f"W-{m}"} for m in ("09", "10", "11")]
    resp = await api.post("/v1/exchange/records", {"records": records}, "agency")
    assert (await resp.json())["accepted"] == 3
    assert (await assess_households(api.core)).assessed == 1
    resp = await api.get(f"/v1/households/{hid}/decisions", "auditor")
    assert resp.status == 200, await resp.text()
    [item] = (await resp.json())["items"]
    assert item["trigger"] == "assessment" and item["application_number"] is None
    decision = item["decision"]
    assert decision["eligible"] is True and decision["members"] == 3
    assert (decision["inputs"]["children"], decision["inputs"]["scheme"]) == (1, "categories")
    source = item["provenance"][f"{head}:soliq.wage|2026-11/301234567"]
    assert (source["agency"], source["record_id"], source["as_of"]) == ("soliq", "W-11", "2026-12-05")


async def test_exchange_takes_single_records_and_batches(api: Api) -> None:
    _, head = await make_family(api.core)
    record = {"item": "soliq.wage", "pinfl": head, "key": "2026-11/301234567", "value": 700_000, "unit": "UZS",
              "as_of": "2026-12-05", "record_id": "W-1"}
    resp = await api.post("/v1/exchange/records", record, "agency")
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["accepted"] == 1
    batch = {"records": [{**record, "record_id": "W-2", "value": 800_000, "as_of": "2026-12-06"},
                         {**record, "record_id": "W-3", "pinfl": "30101990123458"},
                         {**record, "record_id": "W-4", "agency": "kadastr"}]}
    result = await (await api.post("/v1/exchange/records", batch, "agency")).json()
    assert result["accepted"] == 1 and result["superseded"] == 1
    assert [(r["index"], r["code"]) for r in result["rejected"]] == [
        (1, "exchange.bad_pinfl"), (2, "exchange.agency_not_yours")]
    await problem(await api.post("/v1/exchange/records", {**record, "record_id": "W-5", "pinfl": "123"}, "agency"),
                  422, "exchange.bad_pinfl")
    person = await (await api.get(f"/v1/persons/{head}", "agency")).json()
    assert person["contributions"]["facts"][0]["agency_record_id"] == "W-2"


async def test_exchange_refuses_a_number_too_large_record_by_record(api: Api) -> None:
    _, head = await make_family(api.core)
    record = {"item": "soliq.wage", "pinfl": head, "key": "2026-11/301234567", "value": 700_000, "unit": "UZS",
              "as_of": "2026-12-05", "record_id": "W-1"}
    batch = {"records": [record, {**record, "record_id": "W-2", "value": 99999999999999999999}]}
    resp = await api.post("/v1/exchange/records", batch, "agency")
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert result["accepted"] == 1
    assert [(r["index"], r["code"]) for r in result["rejected"]] == [(1, "exchange.bad_value")]
    await problem(await api.post("/v1/exchange/records", {**record, "record_id": "W-3", "value": 10**19}, "agency"),
                  422, "exchange.bad_value")
    deep = b'{"records": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
    resp = await api.http.post("/v1/exchange/records", data=deep, headers={
        **api.auth("agency"), "Content-Type": "application/json"})
    assert resp.status == 400, await resp.text()
    for depth in (900, 990):  # parses, but nested nearly as deep as Python goes
        nested = b"[" * depth + b"]" * depth
        body = b'{"records": [{"item": "soliq.wage", "pinfl": "' + head.encode() + b'", "as_of": "2026-12-05", ' \
            b'"record_id": "W-4", "value": ' + nested + b"}]}"
        resp = await api.http.post("/v1/exchange/records", data=body, headers={
            **api.auth("agency"), "Content-Type": "application/json", "Idempotency-Key": f"deep-{depth}"})
        assert resp.status in (200, 400), await resp.text()


async def test_a_large_batch_is_read_whole(api: Api) -> None:
    # A body that arrives in several chunks (as over a real network) must be read to its end.
    _, head = await make_family(api.core)
    records = [{"item": "soliq.wage", "pinfl": head, "key": f"2026-11/30{i:07d}", "value": 700_000 + i,
                "unit": "UZS", "as_of": "2026-12-05", "record_id": f"B-{i}"} for i in range(3000)]
    raw = json.dumps({"records": records}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 64 * 1024):
            yield raw[start:start + 64 * 1024]
            await asyncio.sleep(0.01)

    resp = await api.http.post("/v1/exchange/records", data=chunks(), headers={
        **api.auth("agency"), "Content-Type": "application/json"})
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert result["accepted"] + result["superseded"] + result["unchanged"] == 3000 and result["rejected"] == []


async def test_a_batch_of_ten_thousand_records_fits(api: Api) -> None:
    # The contract promises batches of up to 10,000 records; ordinary ones make well over a megabyte.
    _, head = await make_family(api.core)
    records = [{"item": "soliq.wage", "pinfl": head, "key": f"2026-11/30{i:07d}", "value": 700_000 + i,
                "unit": "UZS", "as_of": "2026-12-05", "record_id": f"T-{i}"} for i in range(10_000)]
    headers = {**api.auth("agency"), "Content-Type": "application/json"}
    resp = await api.http.post("/v1/exchange/records", data=io.BytesIO(json.dumps({"records": records}).encode()),
                               headers=headers)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["rejected"] == []
    too_many = io.BytesIO(json.dumps({"records": records + records[:1]}).encode())
    resp = await api.http.post("/v1/exchange/records", data=too_many, headers=headers)
    assert resp.status == 422 and resp.content_type == "application/problem+json"


@pytest.mark.parametrize(("body", "code", "pointer"), [
    ({"item": "soliq.wage", "pinfl": "30101990123457", "value": 1, "as_of": "2026-12-05"}, "body.required", "/record_id"),
    ({"item": "soliq.wage", "pinfl": "30101990123457", "value": 1, "as_of": "2026-12-05", "record_id": "W-1",
      "colour": "red"}, "body.unknown_field", "/colour"),
    ({"records": []}, "body.min_items", "/records"),
    ({"records": [{}], "source": "x"}, "body.unknown_field", "/source"),
])
async def test_an_exchange_body_refusal_names_the_field(api: Api, body: dict, code: str, pointer: str) -> None:
    # A record or a batch: the refusal says what is wrong with the shape the body was meant as,
    # not only that it matches neither.
    refused = await problem(await api.post("/v1/exchange/records", body, "agency"), 422, code)
    assert refused["params"]["pointer"] == pointer


async def test_a_malformed_application_number_is_not_called_a_grievance_number(api: Api) -> None:
    for number in ("12345678", "123456789"):  # too short; nine digits with a wrong check digit
        body = await problem(await api.get(f"/v1/applications/{number}", "hotline"), 422, "path.number")
        assert body["params"]["value"] == number
        await problem(await api.post(f"/v1/applications/{number}/decision", None, "operator", **{"If-Match": "*"}),
                      422, "path.number")


@pytest.mark.parametrize("limit", ["%D9%A5", "1_0", "+5", "%205", "5%20"])
async def test_an_integer_query_parameter_takes_ascii_digits_only(api: Api, limit: str) -> None:
    # int() reads Arabic-Indic digits, underscores, signs and spaces; the contract's integer does not.
    body = await problem(await api.get(f"/v1/regions?limit={limit}", "agency"), 422, "query.type")
    assert body["params"]["parameter"] == "limit"


async def test_a_grievance_is_not_assigned_to_a_blank_name(api: Api) -> None:
    created = await api.post("/v1/grievances", {"category": "payment", "text": "Pul kelmadi", "phone": "+998901234567"})
    number, tag = (await created.json())["number"], created.headers["ETag"]
    body = await problem(await api.post(f"/v1/grievances/{number}/assign", {"staff": "  \t "}, **{"If-Match": tag}),
                         422, "body.pattern")
    assert body["params"]["pointer"] == "/staff"
    current = await (await api.get(f"/v1/grievances/{number}", "hotline")).json()
    assert current["state"] == "received" and current["assigned_to"] is None


async def test_a_decision_names_the_members_so_reading_it_is_audited(api: Api) -> None:
    # A decision's inputs carry each member's PINFL, birth date and disability: whoever reads an
    # application or a household's decisions has read those persons' data, and their access log says so.
    hid, head = await make_family(api.core, children=(dt.date(2024, 5, 1),), monthly_income=300_000)
    created = await api.post("/v1/applications", {"pinfl": head}, "hotline")
    number, etag = (await created.json())["number"], created.headers["ETag"]
    decided = await api.post(f"/v1/applications/{number}/decision", None, "operator", **{"If-Match": etag})
    assert head in await decided.text()
    read = await api.get(f"/v1/applications/{number}", "agency")
    assert head in await read.text()
    decisions = await api.get(f"/v1/households/{hid}/decisions", "agency")
    assert head in await decisions.text()
    log = await (await api.get(f"/v1/persons/{head}/access-log?limit=200", "auditor")).json()
    routes = [(e["client"], e["route"]) for e in log["items"]]
    assert ("operator-1", "/v1/applications/{number}/decision") in routes
    assert ("soliq", "/v1/applications/{number}") in routes
    assert ("soliq", "/v1/households/{household_id}/decisions") in routes
