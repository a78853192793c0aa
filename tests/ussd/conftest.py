"""USSD fixtures: the server app over the test database, a demo family, and the golden flag.

``pytest tests --update-golden`` rewrites the transcripts under ``tests/ussd/golden/``; review them
in the diff. (The flag is also read from SPSR_UPDATE_GOLDEN=1.)
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from core.config import Settings
from core.services.applications import SubmitApplication, decide_due, submit_application
from core.services.payments import open_payroll
from core.storage.schema import Enrolment
from core.storage.uow import Actor, Core
from spsr.server import build_app
from tests.storage.factories import make_family
from ussd import web as ussd_web
from ussd.simulator import UssdSession

PHONE = "+998901234567"  # the Karimovs' registered phone: they apply and are refused (income)
PAID_PHONE = "+998935550011"  # an enrolled family with a frozen December payroll line
STRANGER = "+998977770022"  # registered for no family


def pytest_addoption(parser: pytest.Parser) -> None:
    try:
        parser.addoption("--update-golden", action="store_true", default=False,
                         help="rewrite the USSD golden transcripts")
    except ValueError:
        pass


def update_golden(config: pytest.Config) -> bool:
    try:
        flag = bool(config.getoption("--update-golden"))
    except ValueError:
        flag = "--update-golden" in sys.argv
    return flag or os.environ.get("SPSR_UPDATE_GOLDEN") == "1"


@pytest.fixture(autouse=True)
def patient_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests check what a screen says, not how fast a loaded CI machine says it: the server's
    answer deadline (which turns a slow hop into a polite END) is lifted here, and tested alone
    in test_endpoint.py."""
    monkeypatch.setattr(ussd_web, "ANSWER_WITHIN", 30.0)


@pytest.fixture
def golden_update(request: pytest.FixtureRequest) -> bool:
    return update_golden(request.config)


async def seed_demo(core: Core) -> dict[str, str]:
    """Three households: one to apply (no application yet), one refused, one paid."""
    _, applicant = await make_family(core, phone=PHONE, children=(dt.date(2020, 5, 1),), monthly_income=9_000_000)
    refused_id, refused = await make_family(core, phone="+998911112233", monthly_income=50_000_000,
                                            head_birth=dt.date(1979, 1, 2))
    async with core.uow() as uow:
        await submit_application(uow, SubmitApplication(pinfl=refused, channel="sms", language="uz"),
                                 Actor("citizen", "+998911112233", "sms"))
        await uow.commit()
    await decide_due(core)
    paid_id, paid = await make_family(core, phone=PAID_PHONE, children=(dt.date(2024, 2, 3),),
                                      head_birth=dt.date(1990, 6, 6))
    async with core.uow() as uow:
        uow.session.add(Enrolment(household_id=paid_id, programme="child_benefit", category="low_income",
                                  first_month=dt.date(2026, 11, 1), last_month=dt.date(2027, 4, 1),
                                  amount=360_000, state="active"))
        await uow.commit()
    await open_payroll(core, dt.date(2026, 12, 1), Actor("staff", "test", "cli"))
    return {"applicant": applicant, "refused": refused, "paid": paid, "refused_phone": "+998911112233"}


@pytest.fixture
async def demo(core: Core) -> dict[str, str]:
    return await seed_demo(core)


@pytest.fixture
async def ussd_client(core: Core, aiohttp_client: Callable[..., Awaitable[TestClient]]) -> TestClient:
    app: web.Application = build_app(core, Settings(database_url="unused"), mounts=[ussd_web.mount])
    return await aiohttp_client(app)


def session_for(client: TestClient, phone: str, **kw: object) -> UssdSession:
    async def post(form: dict[str, str]) -> tuple[int, str]:
        resp = await client.post("/ussd/africastalking", data=form)
        return resp.status, await resp.text()

    return UssdSession(post=post, phone=phone, **kw)  # type: ignore[arg-type]
