"""What seed, demo, db, phone, sms, bot and the settings refusal print to the person at the terminal
follows the operator's language (uz, kaa, ru); English is byte for byte what main printed before."""

from __future__ import annotations

import contextlib
import io
from collections import Counter
from unittest import mock

import pytest

from core.seed.bulk import IndexRestoreError
from core.seed.demo import DETAILS, DemoCitizen, Details
from core.seed.loader import SeedReport
from spsr.commands import db, demo, seed, sms
from spsr.language import decimal, speaking
from tests.cli import run_cli
from ussd.simulator import Screen, boxed

# --- spsr seed ------------------------------------------------------------------------------------

# What main printed (0a0c6fc): the bar at 12,345 of 50,000 households after 12.5 s.
ENGLISH_BAR = "seed [#######.......................] 12,345/50,000 households, 988/s, eta 38 s\n"


def _bar(language: str | None) -> str:
    stream = io.StringIO()
    with speaking(language), mock.patch("time.monotonic", side_effect=[100.0, 112.5]):  # type: ignore[arg-type]
        seed.Progress(stream=stream)(12345, 50000)
    return stream.getvalue()


@pytest.mark.parametrize(("language", "said"), [
    (None, ENGLISH_BAR),
    ("ru", "загрузка [######....................] семьи 12 345/50 000, 988/с, осталось 38 с\n"),
    ("uz", "yuklash [######......................] oilalar 12 345/50 000, 988/s, 38 s qoldi\n"),
    ("kaa", "júklew [######...................] shańaraqlar 12 345/50 000, 988/s, 38 s qaldı\n"),
])
def test_the_seed_s_bar_speaks_the_operator_s_language_as_wide_as_in_english(language: str | None,
                                                                               said: str) -> None:
    assert _bar(language) == said
    assert len(said) == len(ENGLISH_BAR)  # the words' length is taken from the bar, not added to the line


@pytest.mark.parametrize("language", ["ru", "uz", "kaa"])
def test_the_seed_s_bar_never_outgrows_the_english_one(language: str) -> None:
    for done, total, rate, eta in [(0, 5000, 0.0, 0.0), (999_999, 1_000_000, 54_321.0, 1.0), (5000, 5000, 9.0, 0)]:
        with speaking(None):
            english = seed.progress_line(done, total, rate, eta)
        with speaking(language):  # type: ignore[arg-type]
            assert len(seed.progress_line(done, total, rate, eta)) == len(english)


def _report() -> SeedReport:
    rows = Counter({"households": 12345, "persons": 51234, "bank_balances": 7, "notebook_memberships": 0,
                    "audit": 3})  # a table the summary has no word for is named as it is
    return SeedReport(households=12345, rows=rows, seconds=61.3)


@pytest.mark.parametrize(("language", "said"), [
    # main's f-string, word for word
    (None, "seeded 12,345 households in 61.3 s (201 households/s): 12,345 households, 51,234 persons, "
           "7 bank_balances, 0 notebook_memberships, 3 audit"),
    ("ru", "добавлено семей: 12 345 за 61,3 с (201 в секунду); строк в таблицах: семьи — 12 345, "
           "люди — 51 234, остатки в банках — 7, записи в «тетрадях» — 0, audit — 3"),
    ("uz", "12 345 ta oila 61,3 soniyada qoʻshildi (soniyasiga 201 ta oila): 12 345 ta oila, 51 234 ta shaxs, "
           "7 ta bank qoldigʻi, 0 ta daftar yozuvi, 3 ta audit"),
    ("kaa", "12 345 shańaraq 61,3 sekundta qosıldı (sekundına 201 shańaraq): 12 345 shańaraq, 51 234 adam, "
            "7 bank qaldıǵı, 0 dápter jazbası, 3 audit"),
])
def test_the_seed_s_summary_speaks_the_operator_s_language(language: str | None, said: str) -> None:
    with speaking(language):  # type: ignore[arg-type]
        assert seed.summary(_report()) == said


def test_decimals_keep_english_as_it_was_and_take_a_comma_elsewhere() -> None:
    assert decimal(1234.56) == "1234.6"
    with speaking("ru"):
        assert decimal(1234.56) == "1 234,6"


# --- spsr demo ------------------------------------------------------------------------------------

def _citizens() -> list[DemoCitizen]:
    return [
        DemoCitizen("Raufov Jamshid Bahrom oʻgʻli", "32601813730628", "+998949844526", "uz", "enrolled", 1,
                    Details(DETAILS["enrolled"], {"programme": "child_benefit", "amount": 440000, "month": "2026-12",
                                                  "start": "2026-12-04", "end": "2026-12-27", "status": "scheduled"})),
        DemoCitizen("Stepanov Roman Gennadiyevich", "32704916823739", "+998959949255", "ru", "can_apply", 15,
                    Details(DETAILS["can_apply"], {"category": "poor", "amount": 440000})),
    ]


def _listed(language: str | None, citizens: list[DemoCitizen]) -> str:
    out = io.StringIO()
    with speaking(language), contextlib.redirect_stdout(out):  # type: ignore[arg-type]
        demo.print_citizens(citizens)
    return out.getvalue()


def test_demo_citizens_in_english_are_printed_as_before() -> None:
    # What main printed (0a0c6fc) for these two citizens, and with none.
    assert _listed(None, _citizens()) == """\
Citizens to try (SPSR_TODAY pins the date they are described on):
  [uz] enrolled  Raufov Jamshid Bahrom oʻgʻli
      PINFL 32601813730628  phone +998949844526  household 1
      enrolled in child_benefit: 440,000 so'm for 2026-12, paid between 2026-12-04 and 2026-12-27 (scheduled)
  [ru] can_apply Stepanov Roman Gennadiyevich
      PINFL 32704916823739  phone +998959949255  household 15
      has not applied; would qualify today (poor, 440,000 so'm a month)
"""
    assert _listed(None, []) == "no demo citizens: run `spsr seed` first\n"
    assert [c.to_dict()["details"] for c in _citizens()] == [
        "enrolled in child_benefit: 440,000 so'm for 2026-12, paid between 2026-12-04 and 2026-12-27 (scheduled)",
        "has not applied; would qualify today (poor, 440,000 so'm a month)"]


@pytest.mark.parametrize(("language", "said"), [
    ("ru", """\
Граждане для проверки каналов (SPSR_TODAY задаёт дату, на которую они описаны):
  [uz] получает     Raufov Jamshid Bahrom oʻgʻli
      ПИНФЛ 32601813730628  телефон +998949844526  семья 1
      получает child_benefit: 440 000 сум за 2026-12, выплата с 2026-12-04 по 2026-12-27 (scheduled)
  [ru] может подать Stepanov Roman Gennadiyevich
      ПИНФЛ 32704916823739  телефон +998959949255  семья 15
      заявку не подавали; сегодня семья подходит под условия (poor, 440 000 сум в месяц)
"""),
    ("uz", """\
Sinab koʻrish uchun fuqarolar (SPSR_TODAY ular qaysi sana boʻyicha tavsiflanishini belgilaydi):
  [uz] toʻlov oladi     Raufov Jamshid Bahrom oʻgʻli
      JShShIR 32601813730628  telefon +998949844526  oila 1
      child_benefit dasturiga kiritilgan: 2026-12 uchun 440 000 soʻm, toʻlov muddati 2026-12-04 – 2026-12-27 (scheduled)
  [ru] ariza bera oladi Stepanov Roman Gennadiyevich
      JShShIR 32704916823739  telefon +998959949255  oila 15
      ariza bermagan; bugun talablarga mos keladi (poor, oyiga 440 000 soʻm)
"""),
    ("kaa", """\
Sınap kóriw ushın puqaralar (SPSR_TODAY olar qaysı sánege qarap táriyplenetuǵının belgileydi):
  [uz] tólem aladı     Raufov Jamshid Bahrom oʻgʻli
      JShShIR 32601813730628  telefon +998949844526  shańaraq 1
      child_benefit baǵdarlamasına kirgizilgen: 2026-12 ushın 440 000 som, tólew múddeti 2026-12-04 – 2026-12-27 (scheduled)
  [ru] arza bere aladı Stepanov Roman Gennadiyevich
      JShShIR 32704916823739  telefon +998959949255  shańaraq 15
      arza bermegen; búgin talaplarǵa sáykes keledi (poor, ayına 440 000 som)
"""),
])
def test_demo_citizens_are_described_in_the_operator_s_language(language: str, said: str) -> None:
    assert _listed(language, _citizens()) == said


def test_no_demo_citizens_is_said_in_russian() -> None:
    assert _listed("ru", []) == "демонстрационных граждан нет: сначала выполните «spsr seed»\n"


# --- spsr db --------------------------------------------------------------------------------------

def test_an_index_not_built_again_reads_in_english_as_the_error_and_in_russian_in_its_plural_forms() -> None:
    one, two, five = (IndexRestoreError({f"ix_{i}": "duplicate key" for i in range(n)}) for n in (1, 2, 5))
    assert db.not_rebuilt(two) == str(two) == (
        "could not build again 2 index(es) deferred by a seed (their definitions are kept in "
        "seed_deferred_indexes): ix_0: duplicate key; ix_1: duplicate key")
    with speaking("ru"):
        assert db.not_rebuilt(one).startswith("не удалось заново построить 1 индекс, отложенный при заполнении")
        assert db.not_rebuilt(two).startswith("не удалось заново построить 2 индекса, отложенных")
        assert db.not_rebuilt(five).startswith("не удалось заново построить 5 индексов, отложенных")


# --- spsr sms and phone ---------------------------------------------------------------------------

@pytest.mark.parametrize(("language", "segments", "said"), [
    (None, 1, "(1 segment(s), GSM-7, id m1)"),
    (None, 3, "(3 segment(s), GSM-7, id m1)"),
    ("ru", 1, "(1 сегмент, GSM-7, id m1)"),
    ("ru", 3, "(3 сегмента, GSM-7, id m1)"),
    ("ru", 11, "(11 сегментов, GSM-7, id m1)"),
    ("uz", 3, "(3 ta segment, GSM-7, id m1)"),
    ("kaa", 3, "(3 segment, GSM-7, id m1)"),
])
def test_an_sms_seen_at_the_gateway_counts_its_segments_in_the_language_s_plural(
        language: str | None, segments: int, said: str) -> None:
    with speaking(language):  # type: ignore[arg-type]
        assert sms.delivered({"segments": segments, "encoding": "GSM-7", "id": "m1", "text": "x"}) == said


def test_the_simulated_phone_s_buttons_are_the_caller_s_and_english_by_default() -> None:
    top = "┌────────────────────────────────┐\n│ Hello                          │\n└────────────────────────────────┘\n"
    assert boxed(Screen("Hello", False)) == top + "  [Reply] [Cancel]"  # as on main
    assert boxed(Screen("Hello", True)) == top + "  [OK]"
    assert boxed(Screen("Hello", False), buttons=("ОК", "Ответ", "Отмена")) == top + "  [Ответ] [Отмена]"


# --- spsr bot and the settings every command reads ------------------------------------------------

@pytest.mark.parametrize(("language", "argv", "said"), [
    ("en", ("bot",), "spsr bot: choose --polling (needs SPSR_TELEGRAM_TOKEN) or --fake-api; in production the bot "
                     "runs inside `spsr serve` by webhook\n"),
    ("kaa", ("bot",), "spsr bot: --polling (SPSR_TELEGRAM_TOKEN kerek) yamasa --fake-api parametrleriniń birin "
                      "tańlań; jumıs ortalıǵında bot «spsr serve» ishinde webhook arqalı isleydi\n"),
    ("en", ("bot", "--polling"), "spsr bot: SPSR_TELEGRAM_TOKEN is not set\n"),
    ("ru", ("bot", "--polling"), "spsr bot: SPSR_TELEGRAM_TOKEN не задан\n"),
])
def test_the_bot_says_how_to_run_it_in_the_operator_s_language(
        monkeypatch: pytest.MonkeyPatch, language: str, argv: tuple[str, ...], said: str) -> None:
    monkeypatch.setenv("SPSR_LANGUAGE", language)
    monkeypatch.delenv("SPSR_TELEGRAM_TOKEN", raising=False)
    assert run_cli(*argv) == (2, said, "")


@pytest.mark.parametrize(("language", "setting", "value", "said"), [
    # main's words, as printed before any command starts
    ("en", "SPSR_TODAY", "2026-13-01", "spsr: SPSR_TODAY='2026-13-01' is not a date (YYYY-MM-DD, e.g. 2026-12-10)\n"),
    ("en", "SPSR_SMS_PER_SECOND", "x", "spsr: SPSR_SMS_PER_SECOND must be a number above 0, not 'x'\n"),
    ("en", "SPSR_SMS_CONCURRENCY", "0", "spsr: SPSR_SMS_CONCURRENCY must be a whole number above 0, not '0'\n"),
    ("ru", "SPSR_TODAY", "2026-13-01",
     "spsr: SPSR_TODAY='2026-13-01' — не дата (нужен вид YYYY-MM-DD, например 2026-12-10)\n"),
    ("uz", "SPSR_SMS_PER_SECOND", "x", "spsr: SPSR_SMS_PER_SECOND 0 dan katta son boʻlishi kerak, 'x' emas\n"),
    ("kaa", "SPSR_SMS_CONCURRENCY", "0",
     "spsr: SPSR_SMS_CONCURRENCY 0-den úlken pútin san bolıwı kerek, '0' emes\n"),
])
def test_a_bad_setting_is_refused_in_the_operator_s_language(
        monkeypatch: pytest.MonkeyPatch, language: str, setting: str, value: str, said: str) -> None:
    monkeypatch.setenv("SPSR_LANGUAGE", language)
    monkeypatch.setenv(setting, value)
    assert run_cli("demo") == (2, "", said)


# --- spsr assess and spsr exchange import ---------------------------------------------------------

@pytest.mark.parametrize(("language", "label", "said"), [
    (None, "households", "\r[#######                       ] 500/2000 households 40/s"),  # as main printed it
    (None, "lines", "\r[#######                       ] 500/2000 lines 40/s"),
    ("ru", "households", "\r[#######                       ] 500/2000 семей, 40/с"),
    ("uz", "lines", "\r[#######                       ] 500/2000 qator, 40/s"),
    ("kaa", "households", "\r[#######                       ] 500/2000 shańaraq, 40/s"),
])
def test_the_assessment_s_bar_speaks_the_operator_s_language(language: str | None, label: str, said: str) -> None:
    from spsr.commands import assess

    err = io.StringIO()
    with speaking(language), contextlib.redirect_stderr(err), \
            mock.patch("time.monotonic", side_effect=[100.0, 112.5]):  # type: ignore[arg-type]
        assess.Progress(2000, label)(500)
    assert err.getvalue() == said
