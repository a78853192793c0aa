"""Who may call what: keys, roles, revocation, expiry, rate limits; errors as problem+json."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from sqlalchemy import event, func, select, update

from core.storage.schema import ApiClient, AuditEntry, IdempotencyRecord
from registry_api.app import accept_language
from registry_api.clients import ClientView, KeyCache, revoke_client
from registry_api.http import KEY_CACHE, RateLimiter
from tests.api.conftest import ADMIN, Api, add_key

pytestmark = pytest.mark.postgres


async def problem(resp, status: int, code: str) -> dict:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    assert body["type"] == f"https://spsr.uz/problems/{code}"
    assert body["code"] == code and body["status"] == status and body["title"]
    return body


async def test_a_missing_key_is_refused(api: Api) -> None:
    resp = await api.http.get("/v1/regions")
    await problem(resp, 401, "auth.missing_key")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_an_unknown_key_is_refused(api: Api) -> None:
    resp = await api.http.get("/v1/regions", headers={"Authorization": "Bearer spsr_000000000000_nope"})
    await problem(resp, 401, "auth.invalid_key")
    resp = await api.http.get("/v1/regions", headers={"Authorization": "Bearer garbage"})
    await problem(resp, 401, "auth.invalid_key")


async def test_a_key_revoked_through_the_api_is_refused_at_once(api: Api) -> None:
    assert (await api.get("/v1/regions", "agency")).status == 200
    assert (await api.post("/v1/clients/soliq/revoke", None, "admin")).status == 200
    await problem(await api.get("/v1/regions", "agency"), 401, "auth.invalid_key")


async def test_a_key_revoked_elsewhere_stops_within_the_cache_ttl(api: Api) -> None:
    """``spsr clients revoke`` or another server process: this process learns it when the entry ages out."""
    now = [0.0]
    cache = api.http.app[KEY_CACHE]
    cache.clock = lambda: now[0]
    assert (await api.get("/v1/regions", "agency")).status == 200
    async with api.core.uow() as uow:
        await revoke_client(uow, "soliq", ADMIN)
        await uow.commit()
    now[0] += cache.ttl - 0.1
    assert (await api.get("/v1/regions", "agency")).status == 200
    now[0] += 0.2
    await problem(await api.get("/v1/regions", "agency"), 401, "auth.invalid_key")
    assert cache.ttl <= 10


async def test_an_expired_key_is_refused(api: Api) -> None:
    key = await add_key(api.core, "pensiya", "agency", expires_days=1)
    ok = await api.http.get("/v1/regions", headers={"Authorization": f"Bearer {key}"})
    assert ok.status == 200
    # The expiry a cached entry carries is checked on every call, to the second.
    api.core.clock.advance(dt.timedelta(days=1, seconds=1))  # type: ignore[attr-defined]
    resp = await api.http.get("/v1/regions", headers={"Authorization": f"Bearer {key}"})
    await problem(resp, 401, "auth.invalid_key")


async def test_a_shortened_expiry_is_read_again_within_the_cache_ttl(api: Api) -> None:
    now = [0.0]
    api.http.app[KEY_CACHE].clock = lambda: now[0]
    key = await add_key(api.core, "pensiya", "agency", expires_days=1)
    assert (await api.http.get("/v1/regions", headers={"Authorization": f"Bearer {key}"})).status == 200
    async with api.core.uow() as uow:
        await uow.session.execute(update(ApiClient).where(ApiClient.name == "pensiya").values(
            expires_at=uow.now() - dt.timedelta(minutes=1)))
        await uow.commit()
    now[0] += api.http.app[KEY_CACHE].ttl
    resp = await api.http.get("/v1/regions", headers={"Authorization": f"Bearer {key}"})
    await problem(resp, 401, "auth.invalid_key")


async def test_a_cached_key_costs_no_query_and_the_cache_holds_no_key_in_clear(api: Api) -> None:
    assert (await api.get("/v1/regions", "agency")).status == 200
    statements: list[str] = []
    listen = event.listens_for(api.core.engine.sync_engine, "before_cursor_execute")

    @listen
    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    try:
        assert (await api.get("/v1/regions", "agency")).status == 200
    finally:
        event.remove(api.core.engine.sync_engine, "before_cursor_execute", record)
    assert statements and not any("api_clients" in s for s in statements), statements
    cache = api.http.app[KEY_CACHE]
    assert api.keys["agency"] not in repr(cache._entries)
    assert KeyCache.digest(api.keys["agency"]) in cache._entries


def test_the_key_cache_is_bounded_and_forgets_a_client() -> None:
    cache = KeyCache(ttl=5, max_entries=3, clock=lambda: 0.0)
    for i in range(5):
        cache.put(f"d{i}", None)
    assert [cache.get(f"d{i}")[0] for i in range(5)] == [False, False, True, True, True]
    view = ClientView(7, "soliq", "agency", "abc", dt.datetime(2026, 1, 1), None, None, 600)
    cache.put("k", view)
    cache.forget_client(7)
    assert cache.get("k") == (False, None)


@pytest.mark.parametrize(("role", "method", "path"), [
    ("agency", "GET", "/v1/grievances"),
    ("agency", "GET", "/v1/statistics"),
    ("hotline", "POST", "/v1/exchange/records"),
    ("hotline", "GET", "/v1/audit-log"),
    ("operator", "GET", "/v1/persons/31210632040244"),
    ("auditor", "POST", "/v1/grievances"),
    ("auditor", "GET", "/v1/clients"),
    ("admin", "POST", "/v1/exchange/records"),
])
async def test_a_role_without_permission_is_refused(api: Api, role: str, method: str, path: str) -> None:
    resp = await api.http.request(method, path, json={}, headers=api.auth(role))
    body = await problem(resp, 403, "auth.role")
    assert body["params"]["role"] == role


async def test_titles_follow_accept_language(api: Api) -> None:
    titles = {}
    for lang in ("uz", "kaa", "ru-RU,ru;q=0.9,en;q=0.8", "en"):
        resp = await api.http.get("/v1/regions", headers={"Accept-Language": lang})
        titles[lang] = (await problem(resp, 401, "auth.missing_key"))["title"]
    assert titles["ru-RU,ru;q=0.9,en;q=0.8"] == "Требуется ключ API."
    assert titles["uz"] == titles["en"] != titles["ru-RU,ru;q=0.9,en;q=0.8"]
    assert titles["kaa"] not in (titles["uz"], "An API key is required.")


@pytest.mark.parametrize("header", ["en; q=0.9, ru; q=0.8", "ru ;q=0.5", "en;q=0.1, ru;Q=0.9", "kaa;q=0.2, ru; q=0.7"])
def test_accept_language_takes_spaces_and_any_case_around_q(header: str) -> None:
    # RFC 9110 §12.4.2: optional whitespace around ";" and a case-insensitive "q" (.NET sends "ru; q=0.8").
    assert accept_language(header) == "ru"


async def test_rate_limit_answers_429_with_retry_after(api: Api) -> None:
    key = await add_key(api.core, "kadastr", "agency", rate_per_minute=2)
    headers = {"Authorization": f"Bearer {key}"}
    assert (await api.http.get("/v1/regions", headers=headers)).status == 200
    assert (await api.http.get("/v1/regions", headers=headers)).status == 200
    resp = await api.http.get("/v1/regions", headers=headers)
    await problem(resp, 429, "rate.limited")
    assert int(resp.headers["Retry-After"]) >= 1
    # Other clients have their own bucket.
    assert (await api.get("/v1/regions", "agency")).status == 200


def test_token_bucket_refills_evenly() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert limiter.take(1, 60) == 0 and all(limiter.take(1, 60) == 0 for _ in range(59))
    assert limiter.take(1, 60) == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.take(1, 60) == 0


async def test_admin_manages_clients_and_keys_work_once_shown(api: Api) -> None:
    resp = await api.post("/v1/clients", {"name": "bank", "role": "agency", "expires_days": 30}, "admin")
    assert resp.status == 201
    created = await resp.json()
    assert created["key"].startswith("spsr_") and created["active"]
    listing = await (await api.get("/v1/clients?limit=2", "admin")).json()
    assert len(listing["items"]) == 2 and listing["next"]
    assert all("key" not in c for c in listing["items"])
    async with api.core.uow() as uow:
        stored = await uow.session.scalar(select(ApiClient.key_hash).where(ApiClient.name == "bank"))
    assert stored and created["key"].split("_")[-1] not in stored
    await problem(await api.post("/v1/clients", {"name": "bank", "role": "agency"}, "admin"), 409,
                  "client.exists")
    revoked = await api.post("/v1/clients/bank/revoke", None, "admin")
    assert (await revoked.json())["active"] is False
    resp = await api.http.get("/v1/regions", headers={"Authorization": f"Bearer {created['key']}"})
    await problem(resp, 401, "auth.invalid_key")


async def test_a_replayed_client_creation_never_shows_or_stores_the_key_in_clear(api: Api) -> None:
    body = {"name": "bank", "role": "agency"}
    first = await api.post("/v1/clients", body, "admin", **{"Idempotency-Key": "c-1"})
    assert first.status == 201
    key = (await first.json())["key"]
    assert key.startswith("spsr_")
    again = await api.post("/v1/clients", body, "admin", **{"Idempotency-Key": "c-1"})
    assert again.status == 201 and again.headers["Idempotency-Replayed"] == "true"
    replayed = await again.json()
    assert replayed["key"] is None and replayed["name"] == "bank"
    async with api.core.uow() as uow:
        stored = (await uow.session.scalars(select(IdempotencyRecord.response))).all()
    secret = key.split("_", 2)[2]  # spsr_<prefix>_<secret>; the secret may hold "_" itself
    assert stored and not any(key in json.dumps(r) or secret in json.dumps(r) for r in stored)
    # The key itself works; the replay made no second client.
    assert (await api.http.get("/v1/regions", headers={"Authorization": f"Bearer {key}"})).status == 200
    async with api.core.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(ApiClient)
                                        .where(ApiClient.name == "bank")) == 1


async def test_auditor_reads_the_audit_log(api: Api) -> None:
    await api.post("/v1/clients", {"name": "audited", "role": "hotline"}, "admin")
    resp = await api.get("/v1/audit-log?entity=api_client", "auditor")
    items = (await resp.json())["items"]
    assert any(i["action"] == "client.added" and i["entity_id"] == "audited" for i in items)
    async with api.core.uow() as uow:
        assert await uow.session.scalar(select(AuditEntry.actor_id).where(AuditEntry.entity_id == "audited"))


async def _raw_request(api: Api, head: bytes, body: bytes = b"{}") -> tuple[int, bytes]:
    """Send a request's head as raw bytes (aiohttp's client would encode its headers); status, body."""
    reader, writer = await asyncio.open_connection(api.http.host, api.http.port)
    writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


async def test_headers_in_undecodable_bytes_get_a_clear_answer_not_a_server_error(api: Api) -> None:
    """Bytes that are not UTF-8 in If-Match or Idempotency-Key (a fuzzer found the first)."""
    resp = await api.post("/v1/grievances", {"category": "payment", "text": "Pul kelmadi", "phone": "+998901234567"})
    number = (await resp.json())["number"]
    auth = f"Authorization: Bearer {api.keys['hotline']}\r\n".encode()
    status, body = await _raw_request(api, f"POST /v1/grievances/{number}/assign HTTP/1.1\r\nHost: x\r\n".encode()
                                      + auth + b"If-Match: \xe5\"1\"\r\nContent-Type: application/json\r\n", b'{"staff": "aziz"}')
    assert status == 412 and json.loads(body)["code"] == "precondition.failed", (status, body)
    status, body = await _raw_request(api, b"POST /v1/grievances HTTP/1.1\r\nHost: x\r\n" + auth
                                      + b"Idempotency-Key: k\xe5y\r\nContent-Type: application/json\r\n",
                                      json.dumps({"category": "payment", "text": "x", "phone": "+998901234567"}).encode())
    assert status == 422 and json.loads(body)["code"] == "idempotency.key_format"
    # Digits of another script are not a version either.
    resp = await api.post(f"/v1/grievances/{number}/assign", {"staff": "aziz"}, **{"If-Match": '"١"'})
    await problem(resp, 412, "precondition.failed")


async def test_a_weak_tag_in_if_match_never_matches(api: Api) -> None:
    # RFC 9110 §13.1.1: If-Match compares strongly, so W/"<current>" fails and nothing changes.
    created = await api.post("/v1/grievances", {"category": "payment", "text": "Pul kelmadi", "phone": "+998901234567"})
    number, tag = (await created.json())["number"], created.headers["ETag"]
    resp = await api.post(f"/v1/grievances/{number}/assign", {"staff": "aziz"}, **{"If-Match": "W/" + tag})
    await problem(resp, 412, "precondition.failed")
    current = await api.get(f"/v1/grievances/{number}", "hotline")
    assert current.headers["ETag"] == tag and (await current.json())["assigned_to"] is None


async def test_if_match_with_a_list_of_tags_matches_any_of_them(api: Api) -> None:
    created = await api.post("/v1/grievances", {"category": "payment", "text": "Pul kelmadi", "phone": "+998901234567"})
    number, tag = (await created.json())["number"], created.headers["ETag"]
    step = f"/v1/grievances/{number}/assign"
    for header, code in (('"98", "99"', "grievance.stale"), (f'W/{tag}, "99"', "grievance.stale"),
                         (f"{tag}, garbage", "precondition.failed"), (f"W/{tag}", "precondition.failed")):
        await problem(await api.post(step, {"staff": "aziz"}, **{"If-Match": header}), 412, code)
    assert (await (await api.get(f"/v1/grievances/{number}", "hotline")).json())["assigned_to"] is None
    resp = await api.post(step, {"staff": "aziz"}, **{"If-Match": f'"99", {tag} , W/"98"'})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["assigned_to"] == "aziz"


def test_a_core_refusal_gets_its_own_title_not_the_generic_one() -> None:
    from core.i18n import use_locale
    from registry_api.problems import title_of

    codes = [("payroll.month", "invalid"), ("territory.unknown_district", "not_found"),
             ("exchange.batch_too_large", "invalid"), ("exchange.agency_not_yours", "forbidden"),
             ("grievance.empty_text", "invalid"), ("grievance.empty_answer", "invalid"),
             ("client.not_agency", "invalid"), ("client.inactive", "conflict")]
    for language in ("uz", "kaa", "ru"):
        with use_locale(language):
            generic = {kind: title_of("no.such_code", kind) for _, kind in codes}
            for code, kind in codes:
                assert title_of(code, kind) != generic[kind], (language, code)
