"""The language of the ``spsr`` command (spsr.language): which one is chosen from the environment,
that every staff sentence exists in uz, kaa and ru, and that English is word for word as before."""

from __future__ import annotations

import datetime as dt
import os
from unittest import mock

import pytest
from babel.messages.pofile import read_po

from core.exchange import EXCHANGE_ERROR_CODES
from core.services.applications import DecideSummary
from core.services.assessment import AssessSummary
from core.services.exchange import EXCHANGE_SERVICE_ERROR_CODES
from locales.catalogs import LOCALES, po_path
from registry_api.problems import TITLES
from spsr.commands import assess, clients, decide, exchange, payroll
from spsr.language import UnknownLanguage, language_from_env, speaking, tell
from tests.cli import run_cli


@pytest.mark.parametrize(("environ", "language"), [
    ({}, None),
    ({"LANG": "ru_RU.UTF-8"}, "ru"),
    ({"LANG": "uz_UZ.UTF-8"}, "uz"),
    ({"LANG": "uz_UZ@cyrillic"}, "uz"),
    ({"LANG": "kaa_UZ"}, "kaa"),
    ({"LANG": "kaa"}, "kaa"),
    ({"LANG": "en_US.UTF-8"}, None),
    ({"LANG": "de_DE.UTF-8"}, None),
    ({"LANG": "ru_RU.UTF-8", "LC_MESSAGES": "uz_UZ.UTF-8"}, "uz"),
    ({"LANG": "ru_RU.UTF-8", "LC_MESSAGES": "uz_UZ.UTF-8", "LC_ALL": "kaa_UZ"}, "kaa"),
    ({"LANG": "ru_RU.UTF-8", "LC_ALL": "C"}, None),  # POSIX: LC_ALL decides even when it names no language
    ({"LANG": "ru_RU.UTF-8", "LC_ALL": ""}, "ru"),  # an empty variable is no choice
    ({"LANG": "ru_RU.UTF-8", "SPSR_LANGUAGE": "kaa"}, "kaa"),
    ({"LC_ALL": "uz_UZ.UTF-8", "SPSR_LANGUAGE": " RU "}, "ru"),
    ({"LANG": "ru_RU.UTF-8", "SPSR_LANGUAGE": "en"}, None),
    ({"LANG": "uz_UZ.UTF-8", "SPSR_LANGUAGE": ""}, "uz"),
])
def test_spsr_language_wins_then_the_posix_locale_then_english(environ: dict[str, str], language: str | None) -> None:
    assert language_from_env(environ) == language


@pytest.mark.parametrize("value", ["russian", "ru_RU", "oz", "uz-Cyrl", "fr"])
def test_an_unknown_spsr_language_is_refused_naming_the_choices(value: str) -> None:
    with pytest.raises(UnknownLanguage) as err:
        language_from_env({"SPSR_LANGUAGE": value, "LANG": "ru_RU.UTF-8"})
    assert all(f"{code} (" in str(err.value) for code in ("uz", "kaa", "ru", "en")), err.value


def test_an_unknown_spsr_language_stops_every_command_before_it_starts() -> None:
    with mock.patch.dict(os.environ, {"SPSR_LANGUAGE": "russian", "SPSR_TODAY": "2026-12-10"}):
        code, out, err = run_cli("payroll", "approve", "--month", "2027-05", "--by", "bob")
    assert (code, out) == (2, "")
    assert err == ("spsr: SPSR_LANGUAGE='russian' is not a language spsr speaks: set it to uz (Oʻzbekcha), "
                   "kaa (Qaraqalpaqsha), ru (Русский) or en (English), or leave it unset to follow LC_ALL, "
                   "LC_MESSAGES, LANG\n")


def _msgids() -> list[str]:
    """Every staff sentence a refusal code of the command line maps to."""
    return [*(m for m in payroll.MESSAGES.values() if m != "{problem}"), *payroll.MALFORMED.values(),
            payroll.LINE_NOT_APPROVED, payroll.UNREADABLE_LINE, *clients.REFUSALS.values(),
            *(TITLES[code] for code in EXCHANGE_ERROR_CODES + EXCHANGE_SERVICE_ERROR_CODES)]


@pytest.mark.parametrize("locale", LOCALES)
def test_every_refusal_code_of_the_command_line_is_translated(locale: str) -> None:
    # KeyError above would say an exchange code has no title; here, that each sentence is translated,
    # not fuzzy, and not left in English (a Karakalpak msgid must not fall back to Uzbek either).
    with po_path(locale).open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    for msgid in _msgids():
        message = catalog.get(msgid)
        assert message is not None and message.string and not message.fuzzy, (locale, msgid)
        assert message.string != msgid, (locale, msgid)


@pytest.mark.parametrize(("language", "said"), [
    (None, "line_id 2027010000000001: the bank says 360000 so'm, the payroll line is for 275000 so'm"),
    ("uz", "line_id 2027010000000001: bank 360000 soʻm deydi, qaydnoma qatorida esa 275000 soʻm"),
    ("kaa", "line_id 2027010000000001: bank 360000 som deydi, al dizim qatarında 275000 som"),
    ("ru", "line_id 2027010000000001: банк указал 360000 сум, а в строке ведомости 275000 сум"),
])
def test_a_payroll_refusal_is_worded_in_the_operator_s_language(language: str | None, said: str) -> None:
    with speaking(language):  # type: ignore[arg-type]
        assert payroll.describe("payroll.amount_mismatch",
                                {"line_id": 2027010000000001, "amount": 360000, "expected": 275000}) == said


@pytest.mark.parametrize(("language", "said"), [
    (None, "line 2: amount '36O000' is not a whole number"),
    ("uz", "2-qator: amount '36O000' butun son emas"),
    ("ru", "строка 2: amount '36O000' — не целое число"),
])
def test_a_malformed_bank_line_is_worded_whole(language: str | None, said: str) -> None:
    with speaking(language):  # type: ignore[arg-type]
        reason = payroll.describe("payroll.malformed_line",
                                  {"problem": "not_a_number", "field": "amount", "value": "36O000"})
        assert tell("line {line}: {reason} ({code})", line=2, reason=reason, code="c") == f"{said} (c)"


@pytest.mark.parametrize(("params", "said"), [
    ({"missing": ["status"], "repeated": ["amount"], "found": "x"}, "it lacks status and it repeats amount"),
    ({"missing": ["status", "amount"], "found": "x"}, "it lacks status, amount (it reads"),
    ({"repeated": ["amount"], "found": "x"}, "it repeats amount (it reads"),
    ({"found": "x"}, "it cannot be read (it reads"),
])
def test_a_bank_file_header_problem_reads_as_before_in_english(params: dict[str, object], said: str) -> None:
    assert said in payroll.describe("payroll.bad_header", params)


def test_english_summaries_are_word_for_word_the_old_ones() -> None:
    today = dt.date(2026, 12, 10)
    passed = AssessSummary(assessed=7, eligible=6, enrolled=5, ending=4, reinstated=3, notices=2, errors=1)
    assert assess.said(today, passed) == f"{today}: {passed}"
    run = DecideSummary(verified=6, awaiting=5, approved=4, rejected=3, enrolled=2, expired=1)
    assert decide.said(today, run) == f"{today}: {run}"
    assert exchange.refusal(7, "exchange.bad_pinfl", {"pinfl": "1"}) == 'line 7: exchange.bad_pinfl {"pinfl": "1"}'
    with speaking("ru"):
        assert decide.said(today, run) == ("2026-12-10: проверено 6, ждут данных 5, одобрено 4, отказано 3, "
                                           "включено 2, просрочено 1")
