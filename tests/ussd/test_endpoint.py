"""The USSD endpoint: repeated hops, the phone-ownership rule, auth, expiry, screen sizes, fuzz."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.clock import FixedClock
from core.flows import Input, Start, step
from core.gsm import fits_ussd
from core.i18n import SUPPORTED, Words, _, use_locale
from core.storage.schema import Application
from core.storage.uow import Core
from tests.ussd.conftest import PAID_PHONE, PHONE, STRANGER, session_for
from ussd.layout import UssdPager
from ussd.simulator import play

pytestmark = pytest.mark.postgres
URL = "/ussd/africastalking"


async def _hop(client, session: str, phone: str, text: str) -> str:
    resp = await client.post(URL, data={"sessionId": session, "phoneNumber": phone, "serviceCode": "*1140#",
                                        "networkCode": "63402", "text": text})
    assert resp.status == 200
    return await resp.text()


async def test_a_repeated_hop_is_answered_the_same_and_applies_once(core: Core, demo, ussd_client) -> None:
    texts = ["", "1", "1*1", f"1*1*{demo['applicant']}", f"1*1*{demo['applicant']}*1", f"1*1*{demo['applicant']}*1*1",
             f"1*1*{demo['applicant']}*1*1*1"]
    for text in texts:
        first = await _hop(ussd_client, "s-rep", PHONE, text)
        assert await _hop(ussd_client, "s-rep", PHONE, text) == first
    assert first.startswith("END ")
    async with core.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Application)) == 2  # refused one + this


async def test_status_and_payment_only_for_the_registered_phone(demo, ussd_client) -> None:
    own = await play(session_for(ussd_client, PAID_PHONE), ["3"])  # registered: starts in its language
    assert "360 000" in own
    stranger = await play(session_for(ussd_client, STRANGER), ["1", "3"])
    assert "360 000" not in stranger and "1140" in stranger
    # Applying with another family's PINFL from a stranger's phone is refused without showing the family.
    other = await play(session_for(ussd_client, STRANGER), ["1", "1", demo["applicant"]])
    assert "Anvar" not in other and "1140" in other


async def test_language_is_remembered_per_phone(demo, ussd_client) -> None:
    await play(session_for(ussd_client, STRANGER), ["3"])
    again = await play(session_for(ussd_client, STRANGER), [])
    assert "Подать заявку" in again


async def test_a_registered_phone_starts_in_its_contacts_language_and_may_change_it(core: Core, ussd_client) -> None:
    from tests.storage.factories import make_family

    await make_family(core, phone="+998935550077", language="kaa")
    first = await play(session_for(ussd_client, "+998935550077"), [])
    assert "Tilni tanlang" not in first and "Ja'rdem ushi'n arza" in first
    changed = await play(session_for(ussd_client, "+998935550077"), ["5", "3"])
    assert "Подать заявку" in changed
    # The phone's own choice now wins over the registry's.
    assert "Подать заявку" in await play(session_for(ussd_client, "+998935550077"), [])


async def test_expired_session_gets_a_short_end(core: Core, demo, ussd_client, clock: FixedClock) -> None:
    await _hop(ussd_client, "s-exp", PHONE, "")
    clock.advance(dt.timedelta(minutes=4))
    assert (await _hop(ussd_client, "s-exp", PHONE, "1")).startswith("END ")


async def test_a_hop_past_the_gateways_deadline_gets_a_polite_end(demo, ussd_client, monkeypatch) -> None:
    """An answer that would come after the gateway gave up is replaced by an apology in time."""
    from ussd import web as ussd_web

    monkeypatch.setattr(ussd_web, "ANSWER_WITHIN", 1e-6)
    assert (await _hop(ussd_client, "s-slow", PHONE, "")).startswith("END ")


async def test_a_failed_hop_apologises_in_the_language_the_phone_was_last_answered_in(
        demo, ussd_client, monkeypatch) -> None:
    from ussd import web as ussd_web

    await play(session_for(ussd_client, STRANGER), ["3"])  # Russian
    monkeypatch.setattr(ussd_web, "ANSWER_WITHIN", 1e-6)
    with use_locale("ru"):
        assert await _hop(ussd_client, "s-down", STRANGER, "") == f"END {_(Words.UNAVAILABLE)}"
    # A phone never answered gets the default language's apology.
    with use_locale("uz"):
        assert await _hop(ussd_client, "s-new", "+998935550123", "") == f"END {_(Words.UNAVAILABLE)}"


def test_the_remembered_languages_are_bounded() -> None:
    from ussd.web import Languages

    languages = Languages(size=2)
    languages.remember("+1", "ru")
    languages.remember("+2", "kaa")
    languages.remember("+1", "ru")  # answered again: now the most recent
    languages.remember("+3", "uz")
    assert (languages.of("+1"), languages.of("+2"), languages.of("+3")) == ("ru", None, "uz")


async def test_auth_refuses_a_wrong_key_when_one_is_set(core: Core, aiohttp_client) -> None:
    from core.config import Settings
    from spsr.server import build_app
    from ussd import web as ussd_web

    app = build_app(core, Settings(database_url="x", ussd_key="s3cret"), mounts=[ussd_web.mount])
    client = await aiohttp_client(app)
    form = {"sessionId": "a", "phoneNumber": PHONE, "text": ""}
    assert (await client.post(URL, data=form)).status == 403
    assert (await client.post(URL + "?key=wrong", data=form)).status == 403
    assert (await client.post(URL + "?key=s3cret", data=form)).status == 200


def _walk(lang: str, inputs: list[str]):
    s = step({}, Start(lang))
    yield s
    for text in inputs:
        s = step(s.state, Input(text))
        yield s


@pytest.mark.parametrize("lang", SUPPORTED)
def test_every_page_of_every_screen_fits(lang: str) -> None:
    pager = UssdPager()
    paths = [["1"], ["1", "x"], ["1", "31210632040245"], ["4"], ["4", "1"], ["4", "1", "1"], ["4", "1", "1", ""],
             ["4", "2"], ["4", "2", "1"], ["5"], ["99"], ["1", "99"], ["4", "1", "1", "99"], ["4", "2", "99"]]
    for path in paths:
        for s in _walk(lang, path):
            if s.screen is None:
                continue
            with use_locale(lang):
                for page in pager.pages(s.screen, lang):
                    assert fits_ussd(page), (lang, path, page)
                    if lang != "ru":
                        assert len(page) <= 182


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(max_size=40) | st.sampled_from(["0", "00", "98", "99", "1", "2", "3", "4", "5"]),
                      max_size=8))
async def test_fuzzed_input_never_breaks_the_endpoint(ussd_client, texts: list[str]) -> None:
    session = session_for(ussd_client, PHONE)
    transcript = await play(session, [t.replace("*", "") for t in texts])
    assert "[GATEWAY]" not in transcript


async def test_several_applications_are_listed_newest_first(core: Core, demo, ussd_client, clock: FixedClock) -> None:
    from core.services.applications import SubmitApplication, submit_application
    from core.storage.uow import Actor

    for day in (dt.date(2026, 10, 5), dt.date(2026, 12, 10)):
        clock.set(day)
        async with core.uow() as uow:
            await submit_application(uow, SubmitApplication(pinfl=demo["applicant"], channel="ussd", language="uz",
                                                            phone=PHONE), Actor("citizen", PHONE, "ussd"))
            await uow.commit()
    listed = await play(session_for(ussd_client, PHONE), ["2"])
    assert "Arizalaringiz" in listed and "\n1 " in listed and "\n2 " in listed
    older = await play(session_for(ussd_client, PHONE), ["2", "2", "0"])
    assert "Mening arizam" in older and older.rstrip().endswith("0 Orqaga 00 Menyu")


async def test_a_session_id_reused_by_another_phone_starts_afresh(demo, ussd_client) -> None:
    # A flaky gateway hands a live session id to another caller: the stranger must not see (nor
    # go on with) the applicant's family, shown on the screen the applicant stopped at.
    await _hop(ussd_client, "s-reused", PHONE, "")
    await _hop(ussd_client, "s-reused", PHONE, "1")
    family = await _hop(ussd_client, "s-reused", PHONE, f"1*{demo['applicant']}")
    assert "Anvar" in family
    stranger = await _hop(ussd_client, "s-reused", STRANGER, "")
    assert "Anvar" not in stranger and "Bunday tanlov" not in stranger
    assert stranger.startswith("CON ") and "Русский" in stranger  # a new caller's first screen
