"""Typed text: apostrophes, Karakalpak letters, look-alike letters, Uzbek Cyrillic, number entry."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.gsm import is_gsm7
from core.text import OKINA, TUTUQ, digits_only, fold, gsm_spelling, normalise_input

# --- normalise_input -----------------------------------------------------------------------------

APOSTROPHE_VARIANTS = ["'", "`", "\u2018", "\u2019", "\u02bc", "\u02bb", "\u00b4"]
APOSTROPHES_TYPED = APOSTROPHE_VARIANTS


@pytest.mark.parametrize("mark", APOSTROPHE_VARIANTS)
def test_every_apostrophe_after_o_or_g_becomes_the_okina(mark: str) -> None:
    assert normalise_input(f"o{mark}g{mark}il") == f"o{OKINA}g{OKINA}il" == "oʻgʻil"
    assert normalise_input(f"O{mark}ZBEKISTON") == "OʻZBEKISTON"


@pytest.mark.parametrize("mark", APOSTROPHE_VARIANTS)
def test_every_apostrophe_elsewhere_becomes_the_tutuq(mark: str) -> None:
    assert normalise_input(f"ma{mark}lumot") == f"ma{TUTUQ}lumot" == "maʼlumot"
    assert normalise_input(f"san{mark}at") == "sanʼat"


def test_tutuq_right_after_the_okina() -> None:
    assert normalise_input("mo''tadil") == "moʻʼtadil"


def test_quotes_not_after_a_letter_are_left_alone() -> None:
    # A closing quote right after a letter cannot be told from a tutuq, and fold keeps it.
    assert normalise_input("'holat' ") == "'holat\u02bc"
    assert normalise_input("“HOLAT”") == "“HOLAT”"


def test_spaces_collapse_and_edges_strip() -> None:
    assert normalise_input("  Toshkent \t\n  shahri\u00a0 ") == "Toshkent shahri"


def test_nfc() -> None:
    assert normalise_input("Ja\u0301rdem") == "Járdem"


# --- fold ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["HOLAT", "holat", "Holat", " holat! ", "ҲОЛАТ", "ҳолат", "hоlat", "HОLАТ"])
def test_holat_keyword(typed: str) -> None:
    # hоlat and HОLАТ carry Cyrillic о / О, А, Т among Latin letters, as autocorrect and
    # mixed keyboards produce; ҲОЛАТ is Uzbek Cyrillic.
    assert fold(typed) == fold("HOLAT") == "holat"


@pytest.mark.parametrize("typed", ["STATUS", "status", "СТАТУС", "статус", "СТАTУС", "Статус."])
def test_status_keyword_in_both_scripts(typed: str) -> None:
    assert fold(typed) == fold("status")


def test_stop_in_both_scripts() -> None:
    assert fold("STOP") == fold("стоп") == fold("Stop.") == "stop"


def test_uzbek_cyrillic_transliterates() -> None:
    assert fold("ЎҒИЛ") == fold("oʻgʻil") == fold("o'g'il") == fold("O`G`IL")
    assert fold("ёрдам") == "yordam" == fold("Yordam")
    assert fold("ер") == "yer"
    assert fold("оила") == "oila"


def test_x_and_h_stay_apart() -> None:
    # Without an ҳ key people type Х; that is a different letter: list "xolat" as a keyword too.
    assert fold("ХОЛАТ") == "xolat" != fold("holat")


@pytest.mark.parametrize(
    ("new", "old"),
    [("á", "a'"), ("ó", "o'"), ("ú", "u'"), ("ı", "i'"), ("ń", "n'"), ("ǵ", "g'"),
     ("Á", "A'"), ("Ó", "O'"), ("Ú", "U'"), ("Í", "I'"), ("Ń", "N'"), ("Ǵ", "G'")],
)
def test_karakalpak_letters_meet_their_apostrophe_forms(new: str, old: str) -> None:
    assert fold(new) == fold(old) == fold(new.lower()) == fold(old.lower())


def test_karakalpak_words() -> None:
    assert fold("Járdem") == fold("JÁRDEM") == fold("Ja'rdem") == fold("ja`rdem")
    assert fold("Tildi tańlań") == fold("TILDI TAN'LAN'")


def test_dotless_i_is_folded_by_hand() -> None:
    # Í is the capital of ı in Karakalpak, but Unicode pairs Í with í and ı with I.
    assert "Í".lower() == "í" and "ı".upper() == "I"
    assert fold("QARAQALPAQSHA") != fold("Qaraqalpaqsha".replace("a", "ı"))
    assert fold("TÍYKAR") == fold("tıykar") == fold("ti'ykar")
    assert fold("tıykar") != fold("tiykar")


def test_uzbek_okina_and_karakalpak_acute_o_share_a_key() -> None:
    assert fold("oʻ") == fold("ó") == fold("o'") == "o'"


def test_letter_o_in_a_number_is_zero() -> None:
    assert fold("1О") == fold("1o") == "10"
    assert fold("OO") == "oo"  # no digit: a word, not a number
    assert fold("98") == "98"


# --- digits_only ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("31210632040244", "31210632040244"),
        ("3121 0632 0402 44", "31210632040244"),
        ("31210632О4О244", "31210632040244"),  # Cyrillic О
        ("3121063204O244", "31210632040244"),  # Latin O
        ("３１２１０６３２０４０２４４", "31210632040244"),  # fullwidth
        ("+998 (90) 123-45-67", "998901234567"),
        ("90.123.45.67", "901234567"),
        ("٣١٢", "312"),
    ],
)
def test_digits_only(typed: str, digits: str) -> None:
    assert digits_only(typed) == digits


@pytest.mark.parametrize("typed", ["", "  ", "AA1234567", "31210632О4З244", "l2345", "PINFL 312"])
def test_digits_only_refuses_letters(typed: str) -> None:
    # З and l are not read as 3 and 1: a guess would turn a typo into someone else's PINFL.
    assert digits_only(typed) is None


# --- gsm_spelling --------------------------------------------------------------------------------

def test_gsm_spelling_uzbek() -> None:
    assert gsm_spelling("Oʻgʻilingizga maʼlumot", "uz") == "O'g'ilingizga ma'lumot"
    assert gsm_spelling("4–27-dekabr: 745\u00a0000 soʻm", "uz") == "4-27-dekabr: 745 000 so'm"


def test_gsm_spelling_karakalpak() -> None:
    assert gsm_spelling("ÁáǴǵÍıŃńÓóÚú", "kaa") == "A'a'G'g'I'i'N'n'O'o'U'u'"
    assert gsm_spelling("Qáte tańlaw. Iltimas, qaytadan urınıp kóriń.", "kaa") == (
        "Qa'te tan'law. Iltimas, qaytadan uri'ni'p ko'rin'."
    )


def test_gsm_spelling_leaves_russian_alone() -> None:
    text = "Выплата 4–27 декабря: 745\u00a0000 сум"
    assert gsm_spelling(text, "ru") == text


def test_gsm_spelling_round_trips_through_fold() -> None:
    for text, locale in [("Járdem kerek pe?", "kaa"), ("Yoʻq", "uz")]:
        assert fold(gsm_spelling(text, locale)) == fold(text)


# --- properties ----------------------------------------------------------------------------------

TYPED = st.text(
    alphabet=st.sampled_from(
        list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,!?-()\t\n")
        + list("áǵıńóúÁǴÍŃÓÚ")
        + list("абвгдеёжзийклмнопрстуфхцчшщъыьэюяўқғҳАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯЎҚҒҲ")
        + APOSTROPHES_TYPED
    ),
    max_size=40,
)


@given(TYPED)
def test_normalise_input_is_idempotent(text: str) -> None:
    once = normalise_input(text)
    assert normalise_input(once) == once


@given(TYPED)
def test_fold_is_idempotent(text: str) -> None:
    once = fold(text)
    assert fold(once) == once


UZBEK_LATIN = st.lists(
    st.sampled_from(list("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?:-")
                    + ["oʻ", "gʻ", "Oʻ", "Gʻ", "ʼ", "–", "\u00a0"]),
    max_size=60,
).map("".join)


@given(UZBEK_LATIN)
def test_uzbek_latin_respelled_is_gsm7(text: str) -> None:
    assert is_gsm7(gsm_spelling(text, "uz"))


@given(st.text(alphabet=st.sampled_from(list("abdefghijklmnopqrstuvwxyz ABDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?:-áǵıńóúÁǴÍŃÓÚ")), max_size=60))
def test_karakalpak_latin_respelled_is_gsm7(text: str) -> None:
    assert is_gsm7(gsm_spelling(text, "kaa"))


def test_clean_text_drops_control_characters_and_lone_surrogates() -> None:
    from core.text import clean_text

    assert clean_text("Pul\x00 kel\x07madi\udc88") == "Pul kelmadi"
    assert clean_text("satr 1\nsatr\t2") == "satr 1\nsatr\t2"
