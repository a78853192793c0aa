"""The language layer: locale per request, plural forms, dates and money in uz, kaa and ru."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from babel.dates import format_date as babel_format_date

from core import i18n
from core.i18n import (
    LANGUAGE_NAMES,
    SUPPORTED,
    Words,
    _,
    current_locale,
    format_date,
    format_date_range,
    format_days,
    format_money,
    format_months,
    format_number,
    lazy_gettext,
    ngettext,
    normalise_locale,
    pgettext,
    use_locale,
)

DEC_5 = date(2026, 12, 5)


# --- the locale of a request ---------------------------------------------------------------------

def test_default_locale_is_uzbek() -> None:
    assert current_locale() == "uz"
    assert _(Words.BACK) == "Orqaga"


def test_use_locale_sets_and_restores() -> None:
    with use_locale("ru") as loc:
        assert loc == "ru" == current_locale()
        with use_locale("kaa"):
            assert _(Words.BACK) == "Artqa"
        assert _(Words.BACK) == "Назад"
    assert current_locale() == "uz"


def test_use_locale_restores_after_an_error() -> None:
    with pytest.raises(RuntimeError), use_locale("ru"):
        raise RuntimeError
    assert current_locale() == "uz"


async def test_each_asyncio_task_keeps_its_own_locale() -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def request(code: str) -> list[str]:
        seen = []
        with use_locale(code):
            seen.append(_(Words.YES))
            started.set()
            await release.wait()  # the other tasks run and set their own locale meanwhile
            seen.append(_(Words.YES))
        return seen

    tasks = [asyncio.create_task(request(code)) for code in ("ru", "kaa", "uz")]
    await started.wait()
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*tasks) == [["Да", "Да"], ["Awa", "Awa"], ["Ha", "Ha"]]
    assert current_locale() == "uz"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("uz", "uz"), ("uz-UZ", "uz"), ("uz_Latn_UZ", "uz"), ("uz-Cyrl", "uz"), ("UZ", "uz"),
        ("ru", "ru"), ("ru_RU", "ru"), ("ru-RU.UTF-8", "ru"), ("ru-KZ", "ru"),
        ("kaa", "kaa"), ("kaa-Latn", "kaa"), ("kaa_UZ", "kaa"),
        ("qaa", "uz"), ("en", "uz"), ("en-US", "uz"), ("", "uz"), (None, "uz"),
    ],
)
def test_normalise_locale(code: str | None, expected: str) -> None:
    assert normalise_locale(code) == expected


def test_unknown_locale_falls_back_to_uzbek() -> None:
    with use_locale("de-DE"):
        assert current_locale() == "uz"
        assert _(Words.NO) == "Yoʻq"
    assert format_money(1000, locale="xx") == "1 000 soʻm"


# --- translations --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("uz", ["Orqaga", "Bosh menyu", "Davomi", "Yordam", "Ha", "Yoʻq"]),
        ("kaa", ["Artqa", "Bas menyu", "Dawamı", "Járdem", "Awa", "Joq"]),
        ("ru", ["Назад", "Главное меню", "Далее", "Помощь", "Да", "Нет"]),
    ],
)
def test_screen_words(locale: str, words: list[str]) -> None:
    with use_locale(locale):
        assert [_(w) for w in (Words.BACK, Words.HOME, Words.MORE, Words.HELP, Words.YES, Words.NO)] == words


def test_uzbek_translations_use_the_uzbek_letters() -> None:
    with use_locale("uz"):
        text = _(Words.INVALID_CHOICE)
    assert text == "Bunday tanlov yoʻq. Iltimos, koʻrsatilgan raqamlardan birini yuboring."
    assert "\u02bb" in text and "'" not in text and "\u2018" not in text


def test_language_names_are_each_in_their_own_language() -> None:
    assert LANGUAGE_NAMES == {"uz": "Oʻzbekcha", "kaa": "Qaraqalpaqsha", "ru": "Русский"}
    assert tuple(LANGUAGE_NAMES) == SUPPORTED


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, "1 месяц"), (2, "2 месяца"), (5, "5 месяцев"), (11, "11 месяцев"), (21, "21 месяц"), (22, "22 месяца")],
)
def test_russian_plural_forms(n: int, expected: str) -> None:
    with use_locale("ru"):
        assert ngettext("{count} month", "{count} months", n).format(count=n) == expected
    assert format_months(n, locale="ru") == expected


@pytest.mark.parametrize(("n", "uz", "kaa"), [(1, "1 kun", "1 kún"), (5, "5 kun", "5 kún"), (21, "21 kun", "21 kún")])
def test_uzbek_and_karakalpak_nouns_stay_singular_after_numbers(n: int, uz: str, kaa: str) -> None:
    assert format_days(n, locale="uz") == uz
    assert format_days(n, locale="kaa") == kaa
    assert format_days(n, locale="ru") == {1: "1 день", 5: "5 дней", 21: "21 день"}[n]


def test_unknown_message_comes_back_as_is() -> None:
    with use_locale("ru"):
        assert _("Not in any catalog") == "Not in any catalog"
        assert pgettext("menu", "Not in any catalog") == "Not in any catalog"


def test_lazy_string_translates_when_used() -> None:
    back = lazy_gettext("Back")
    with use_locale("ru"):
        assert str(back) == "Назад"
    with use_locale("kaa"):
        assert f"0 {back}" == "0 Artqa"


def test_po_is_compiled_in_memory_when_no_mo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A fresh checkout has no .mo (they are git-ignored): the .po alone must do.
    import shutil

    from locales import CATALOG_DIR

    for loc in SUPPORTED:
        src = CATALOG_DIR / loc / "LC_MESSAGES" / "messages.po"
        dst = tmp_path / loc / "LC_MESSAGES"
        dst.mkdir(parents=True)
        shutil.copy(src, dst / "messages.po")
    monkeypatch.setattr(i18n, "CATALOG_DIR", tmp_path)
    i18n.reload_catalogs()
    try:
        with use_locale("ru"):
            assert _(Words.HELP) == "Помощь"
    finally:
        monkeypatch.undo()
        i18n.reload_catalogs()


# --- numbers and money ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("locale", "expected"), [("uz", "745 000 soʻm"), ("kaa", "745 000 som"), ("ru", "745 000 сум")]
)
def test_money_in_whole_som_with_the_local_word(locale: str, expected: str) -> None:
    assert format_money(745_000, locale=locale) == expected
    with use_locale(locale):
        assert format_money(745_000) == expected


def test_money_groups_with_a_plain_space() -> None:
    # Pinned: CLDR's U+00A0 / U+202F would make a Uzbek SMS UCS-2.
    assert format_money(1_234_567, locale="uz") == "1\u0020234\u0020567 soʻm"
    assert "UZS" not in format_money(745_000, locale="ru")
    assert format_number(360_000) == "360 000"
    assert format_number(0) == "0"
    assert format_number(-420_000) == "-420 000"
    assert format_number(999) == "999"


@pytest.mark.parametrize("value", [745000.0, True, "745000"])
def test_money_is_an_integer(value: object) -> None:
    with pytest.raises(TypeError):
        format_money(value)  # type: ignore[arg-type]


# --- dates ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("locale", "day_month", "with_year"),
    [
        ("uz", "5-dekabr", "2026-yil 5-dekabr"),
        ("kaa", "5-dekabr", "2026-jıl 5-dekabr"),
        ("ru", "5 декабря", "5 декабря 2026 г."),
    ],
)
def test_format_date(locale: str, day_month: str, with_year: str) -> None:
    assert format_date(DEC_5, locale=locale) == day_month
    assert format_date(DEC_5, "day_month_year", locale=locale) == with_year
    assert format_date(DEC_5, "numeric", locale=locale) == "05.12.2026"


UZ_MONTHS = "yanvar fevral mart aprel may iyun iyul avgust sentabr oktabr noyabr dekabr".split()
KAA_MONTHS = "yanvar fevral mart aprel may iyun iyul avgust sentyabr oktyabr noyabr dekabr".split()
RU_MONTHS = "января февраля марта апреля мая июня июля августа сентября октября ноября декабря".split()


@pytest.mark.parametrize("month", range(1, 13))
def test_month_names(month: int) -> None:
    d = date(2026, month, 1)
    assert format_date(d, locale="uz") == f"1-{UZ_MONTHS[month - 1]}"
    assert format_date(d, locale="kaa") == f"1-{KAA_MONTHS[month - 1]}"
    assert format_date(d, locale="ru") == f"1 {RU_MONTHS[month - 1]}"


def test_cldr_cannot_write_karakalpak_latin() -> None:
    # Why core.i18n carries its own Karakalpak months: if this fails, CLDR changed; look again.
    assert babel_format_date(DEC_5, "long", locale="kaa") == "2026 декабрь 5"
    assert babel_format_date(DEC_5, "long", locale="kaa_Latn") == "2026 M12 5"


def test_date_follows_the_current_locale() -> None:
    with use_locale("ru"):
        assert format_date(DEC_5) == "5 декабря"


@pytest.mark.parametrize(
    ("locale", "window", "window_with_year"),
    [
        ("uz", "4–27-dekabr", "2026-yil 4–27-dekabr"),
        ("kaa", "4–27-dekabr", "2026-jıl 4–27-dekabr"),
        ("ru", "4–27 декабря", "4–27 декабря 2026 г."),
    ],
)
def test_payment_window(locale: str, window: str, window_with_year: str) -> None:
    start, end = date(2026, 12, 4), date(2026, 12, 27)
    assert format_date_range(start, end, locale=locale) == window
    assert format_date_range(start, end, with_year=True, locale=locale) == window_with_year


def test_ranges_across_months_and_years() -> None:
    assert format_date_range(date(2026, 11, 28), date(2026, 12, 3), locale="uz") == "28-noyabr – 3-dekabr"
    assert format_date_range(date(2026, 11, 28), date(2026, 12, 3), locale="ru") == "28 ноября – 3 декабря"
    assert (format_date_range(date(2026, 12, 28), date(2027, 1, 3), locale="ru")
            == "28 декабря 2026 г. – 3 января 2027 г.")
    assert format_date_range(DEC_5, DEC_5, locale="uz") == "5-dekabr"


def test_range_must_not_run_backwards() -> None:
    with pytest.raises(ValueError):
        format_date_range(date(2026, 12, 27), date(2026, 12, 4))
