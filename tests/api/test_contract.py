"""The contract: the OpenAPI document and reference page, problem answers for unknown routes,
metrics and access logs; and property-based calls generated from the document (schemathesis)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import threading
from collections.abc import Iterator

import pytest
import schemathesis
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.clock import FixedClock
from core.config import Settings
from core.rates import RateBook
from core.storage.engine import create_engine, session_factory
from core.storage.migrate import upgrade
from core.storage.uow import Core
from registry_api import app as registry_app
from registry_api.app import MaskedAccessLogger
from registry_api.clients import ROLES, add_client
from registry_api.http import PERMISSIONS
from registry_api.openapi import document
from spsr.server import build_app
from tests.api.conftest import ADMIN, Api
from tests.api.test_access import problem
from tests.conftest import PG_ENV, PG_SKIP, TODAY, create_postgres_database, drop_postgres_database
from tests.storage.factories import make_family

pytestmark = pytest.mark.postgres


async def test_openapi_document_and_reference_page(api: Api) -> None:
    resp = await api.http.get("/v1/openapi.json")
    doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    assert {"/v1/persons/{pinfl}", "/v1/grievances", "/v1/exchange/records", "/v1/statistics"} <= set(doc["paths"])
    page = await (await api.http.get("/v1/docs")).text()
    assert "<code>/v1/grievances/{number}/extend</code>" in page and "<script" not in page and "http" not in page.split(
        "<h2>Schemas</h2>")[0].replace("/v1/openapi.json", "")


async def test_unknown_routes_and_methods_are_problems(api: Api) -> None:
    await problem(await api.get("/v1/nothing-here"), 404, "route.not_found")
    resp = await api.http.delete("/v1/regions", headers=api.auth("admin"))
    await problem(resp, 405, "route.method")


async def test_head_answers_like_get_without_a_body(api: Api) -> None:
    # RFC 9110 §9.3.2: a resource that answers GET answers HEAD with the same status and headers.
    got = await api.get("/v1/regions")
    resp = await api.http.head("/v1/regions", headers=api.auth("admin"))
    assert resp.status == 200 and await resp.read() == b""
    assert resp.headers["ETag"] == got.headers["ETag"]
    resp = await api.http.head("/v1/regions", headers=api.auth("admin", **{"If-None-Match": got.headers["ETag"]}))
    assert resp.status == 304


async def test_metrics_and_access_log_mask_the_pinfl(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    _, head = await make_family(api.core)
    with caplog.at_level(logging.INFO, logger="spsr.api.access"):
        assert (await api.get(f"/v1/persons/{head}", "agency")).status == 200
    line = json.loads(caplog.records[-1].getMessage())
    assert line["route"] == "/v1/persons/{pinfl}" and line["status"] == 200 and line["client"] == "soliq"
    assert head not in caplog.text and line["path"].endswith(head[:6] + "*****" + head[11:])
    text = await (await api.http.get("/metrics")).text()
    assert 'spsr_http_requests_total{method="GET",route="/v1/persons/{pinfl}",status="200"} 1' in text
    assert 'spsr_http_request_duration_seconds_bucket{method="GET",route="/v1/persons/{pinfl}",le="+Inf"} 1' in text
    assert 'spsr_outbox_messages{state="pending"}' in text and "spsr_ussd_sessions_active 0" in text
    assert head not in text


def _access_line(method: str, target: str, caplog: pytest.LogCaptureFixture) -> str:
    """The line spsr serve's access logger writes for one request answered 200."""
    logger = logging.getLogger("aiohttp.access")
    request = make_mocked_request(method, target, headers={"Host": "x"})
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        MaskedAccessLogger(logger, "").log(request, web.Response(status=200), 0.01)
    return caplog.records[-1].getMessage()


@pytest.mark.parametrize("target", ["/v1/persons/30907899728840", "/v1/persons/3090789972884%30/access-log?limit=2"])
def test_the_server_access_log_masks_the_pinfl(target: str, caplog: pytest.LogCaptureFixture) -> None:
    # aiohttp's own access log writes the request line as sent: a PINFL, even percent-encoded, must not reach it.
    line = _access_line("GET", target, caplog)
    assert "30907899728840" not in line and "309078*****840" in line and '" 200 ' in line


@pytest.mark.parametrize("target", ["/ussd/africastalking?key=s3cret", "/sms/receipt?x=1&KEY=s3cret&y=2",
                                    "/sms/receipt?key=s3%63ret"])
def test_the_server_access_log_hides_a_gateways_key(target: str, caplog: pytest.LogCaptureFixture) -> None:
    line = _access_line("POST", target, caplog)
    assert "s3cret" not in line and "key=***" in line.lower(), line


async def test_spsr_serve_mounts_the_api(core: Core, database_url: str, aiohttp_client) -> None:
    client = await aiohttp_client(build_app(core, Settings(database_url=database_url)))
    assert (await client.get("/v1/openapi.json")).status == 200


# --- property-based: every operation, generated from the document ----------------------------------

SCHEMA = schemathesis.openapi.from_dict(document(registry_app.OPS))
ROLE_FOR = {(op.method, "/v1" + op.path): next(r for r in ROLES if op.permission in PERMISSIONS[r])
            for op in registry_app.OPS}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database the live server owns for the module: a SQLite file, or a database of its own on
    the PostgreSQL server (the shared test database is emptied by every other test)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('schemathesis') / 'spsr.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP)
    url = create_postgres_database(base, "contract")
    yield url
    drop_postgres_database(base, url)


@pytest.fixture(scope="module")
def live_api(live_database: str) -> Iterator[tuple[str, dict[str, str]]]:
    """A real server on loopback in its own thread and loop, over a fresh database."""
    url = live_database
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, object] = {}

    async def start() -> None:
        engine = create_engine(url)
        await upgrade(engine)
        core = Core(engine=engine, sessions=session_factory(engine), clock=FixedClock(TODAY),
                    book=RateBook.load(), rng=random.Random(7))
        keys = {}
        for role in ROLES:
            async with core.uow() as uow:
                _, keys[role] = await add_client(uow, "soliq" if role == "agency" else role, role, ADMIN,
                                                 rate_per_minute=100_000)
                await uow.commit()
        await make_family(core)
        runner = web.AppRunner(build_app(core, Settings(database_url=url), mounts=[registry_app.mount]))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        state.update(runner=runner, engine=engine, keys=keys, base=f"http://127.0.0.1:{port}")
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    assert ready.wait(60)
    yield str(state["base"]), state["keys"]  # type: ignore[misc]

    async def stop() -> None:
        await state["runner"].cleanup()  # type: ignore[attr-defined]
        await state["engine"].dispose()  # type: ignore[attr-defined]

    asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@SCHEMA.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_every_answer_fits_the_schema(case, live_api) -> None:  # type: ignore[no-untyped-def]
    base, keys = live_api
    role = ROLE_FOR.get((case.method.upper(), case.path), "admin")
    case.call_and_validate(
        base_url=base, headers={"Authorization": f"Bearer {keys[role]}"},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                response_schema_conformance])
