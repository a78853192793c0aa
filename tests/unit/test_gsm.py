"""SMS parts and USSD room by real GSM 03.38 / UCS-2 size."""

from __future__ import annotations

import pytest

from core.gsm import (
    SMS_PART,
    SMS_SINGLE,
    USSD_LIMIT,
    encoding,
    fits_ussd,
    is_gsm7,
    septets,
    sms_segments,
    ussd_length,
    ussd_limit,
)
from core.i18n import format_money, use_locale
from core.text import gsm_spelling

UZ = "Toʻlov 4–27-dekabr kuni kartangizga tushadi: 745 000 soʻm."
KAA = "Tólem 4–27-dekabr kúni kartańızǵa túsedi: 745 000 som."
RU = "Выплата поступит на карту 4–27 декабря: 745 000 сум."


def test_constants_are_the_standard_sizes() -> None:
    assert SMS_SINGLE == {"gsm7": 160, "ucs2": 70}
    assert SMS_PART == {"gsm7": 153, "ucs2": 67}
    assert USSD_LIMIT == {"gsm7": 182, "ucs2": 80}


@pytest.mark.parametrize(("text", "locale"), [(UZ, "uz"), (KAA, "kaa")])
def test_latin_languages_are_ucs2_until_respelled(text: str, locale: str) -> None:
    assert encoding(text) == "ucs2"
    spelled = gsm_spelling(text, locale)
    assert encoding(spelled) == "gsm7"
    assert sms_segments(spelled) == 1


def test_russian_stays_ucs2() -> None:
    assert encoding(gsm_spelling(RU, "ru")) == "ucs2"
    assert sms_segments(RU) == 1


def test_money_strings_are_gsm7_in_latin_locales() -> None:
    with use_locale("kaa"):
        assert is_gsm7(format_money(745_000))
    assert is_gsm7(gsm_spelling(format_money(745_000, locale="uz"), "uz"))


@pytest.mark.parametrize("ch", ["€", "[", "]", "{", "}", "\\", "^", "~", "|"])
def test_extension_characters_count_two(ch: str) -> None:
    assert is_gsm7(ch)
    assert septets(ch) == 2
    assert septets(f"a{ch}b") == 4


def test_basic_alphabet_has_the_european_letters_but_not_karakalpak_ones() -> None:
    assert is_gsm7("@£$¥èéùìòÇØøÅåÆæßÉÄÖÑÜäöñüà§¿¡ΔΦΓΛΩΠΨΣΘΞ\n\r")
    for ch in "áóúıńǵʻʼ–\u00a0ЁБ":
        assert not is_gsm7(ch), ch


def test_septets_refuses_ucs2_text() -> None:
    with pytest.raises(ValueError):
        septets("сум")


@pytest.mark.parametrize(("length", "parts"), [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)])
def test_gsm7_segment_boundaries(length: int, parts: int) -> None:
    assert sms_segments("a" * length) == parts


@pytest.mark.parametrize(("length", "parts"), [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_ucs2_segment_boundaries(length: int, parts: int) -> None:
    assert sms_segments("д" * length) == parts


def test_russian_seventy_characters_fit_one_sms() -> None:
    text = ("Ваша заявка принята. Решение придёт по СМС до 1 января. Спасибо!!!!!!!")[:70]
    assert len(text) == 70
    assert sms_segments(text) == 1
    assert sms_segments(text + ".") == 2


def test_extension_characters_in_long_messages() -> None:
    assert sms_segments("€" * 80) == 1  # 160 septets
    assert sms_segments("€" * 81) == 2
    # 152 septets then an escape pair: the pair is not split, it opens part two.
    assert sms_segments("a" * 152 + "€" + "a" * 10) == 2
    assert sms_segments("a" * 152 + "€" + "a" * 152) == 3


def test_surrogate_pairs_count_two_units() -> None:
    assert sms_segments("🙂" * 35) == 1
    assert sms_segments("🙂" * 36) == 2
    assert ussd_length("🙂") == 2


def test_ussd_room() -> None:
    assert ussd_limit("1. Holat") == 182 and ussd_limit("1. Состояние") == 80
    assert fits_ussd("a" * 182) and not fits_ussd("a" * 183)
    assert fits_ussd("я" * 80) and not fits_ussd("я" * 81)
    assert not fits_ussd("[" * 92)
    assert ussd_length("[" * 91) == 182


def test_a_uzbek_menu_fits_only_once_respelled() -> None:
    menu = "\n".join(
        ["Ijtimoiy himoya yagona reestri", "1. Ariza holati", "2. Toʻlov sanasi", "3. Shikoyat yuborish",
         "4. Maʼlumotlarni yangilash", "5. Tilni oʻzgartirish", "98 Davomi", "0 Orqaga"]
    )
    assert not fits_ussd(menu)  # 115 characters, but one ʻ makes it UCS-2: room for 80
    assert fits_ussd(gsm_spelling(menu, "uz"))
