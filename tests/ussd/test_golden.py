"""Golden transcripts: every flow in every language, as a whole USSD session through the endpoint.

Regenerate with ``pytest tests/ussd --update-golden`` and review the diff. The simulator enforces
the gateway's rules, so a screen that does not fit its encoded size shows up as [GATEWAY] here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.services.grievances import RaiseGrievance, answer, raise_grievance
from core.storage.uow import Actor, Core
from tests.ussd.conftest import PAID_PHONE, PHONE, session_for
from ussd.simulator import play

GOLDEN = Path(__file__).parent / "golden"
LANGS = {"uz": "1", "kaa": "2", "ru": "3"}


def _scenarios(demo: dict[str, str], grievance_number: str) -> dict[str, tuple[str, list[str]]]:
    return {
        # several changes: 2 and 3 chosen, 3 unchosen, 5 chosen, 7 goes on
        "apply": (PHONE, ["1", "x1", "31210632040245", demo["applicant"], "99", "0", "1", "8", "2", "3", "3", "5",
                          "7", "1"]),
        "apply_declined": (PHONE, ["1", demo["applicant"], "2"]),
        "status": (demo["refused_phone"], ["2", "98", "0", "98", "00"]),
        "payment": (PAID_PHONE, ["3", "99", "0", "0"]),
        "grievance": (PHONE, ["4", "1", "9", "1", "Pul kelmadi, karta ishlamayapti"]),
        "grievance_follow_up": (PHONE, ["4", "2", "12345", "123456780", grievance_number, "00", "5", "1"]),
    }


async def _grievance(core: Core) -> str:
    async with core.uow() as uow:
        g = await raise_grievance(uow, RaiseGrievance(category="payment", text="Toʻlov kelmadi", channel="sms",
                                                      language="uz", phone=PHONE), Actor("citizen", PHONE, "sms"))
        await answer(uow, g.number, "Toʻlov 15-dekabrda tushadi.", Actor("staff", "dilnoza", "web"))
        await uow.commit()
    return g.number


@pytest.mark.parametrize("lang", list(LANGS))
@pytest.mark.parametrize("flow", ["apply", "apply_declined", "status", "payment", "grievance",
                                  "grievance_follow_up"])
async def test_golden_transcript(core: Core, demo: dict[str, str], ussd_client, golden_update: bool,
                                 flow: str, lang: str) -> None:
    number = await _grievance(core)
    phone, inputs = _scenarios(demo, number)[flow]
    # The demo phones are registered in Uzbek: the session opens there; "5" switches the language.
    transcript = await play(session_for(ussd_client, phone), ["5", LANGS[lang], *inputs])
    for name, value in demo.items():
        transcript = transcript.replace(value, f"<{name}>")
    assert "[GATEWAY]" not in transcript, transcript
    path = GOLDEN / f"{flow}.{lang}.txt"
    if golden_update or not path.exists():
        path.write_text(transcript, encoding="utf-8")
    assert transcript == path.read_text(encoding="utf-8")
