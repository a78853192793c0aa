"""How surnames and patronymics are formed from the project's name lists."""

from __future__ import annotations

import pytest

from core.seed import names


@pytest.mark.parametrize(
    ("ancestor", "sex", "surname"),
    [
        ("Rahim", "m", "Rahimov"),
        ("Rahim", "f", "Rahimova"),
        ("Ali", "m", "Aliyev"),
        ("Ali", "f", "Aliyeva"),
        ("Karim", "m", "Karimov"),
        ("Musa", "f", "Musayeva"),
        ("Amanbay", "m", "Amanbayev"),
        ("Ájiniyaz", "m", "Ájiniyazov"),
    ],
)
def test_surnames_from_an_ancestors_name(ancestor: str, sex: str, surname: str) -> None:
    assert names.surname_from(ancestor, sex) == surname
    assert names.surname_agrees(surname, sex)


@pytest.mark.parametrize(
    ("father", "sex", "style", "patronymic"),
    [
        ("Anvar", "m", "uz", "Anvar oʻgʻli"),
        ("Anvar", "f", "uz", "Anvar qizi"),
        ("Berdaq", "m", "kaa", "Berdaq ulı"),
        ("Berdaq", "f", "kaa", "Berdaq qızı"),
        ("Rustam", "m", "ru", "Rustamovich"),
        ("Sergey", "f", "ru", "Sergeyevna"),
        ("Ali", "m", "ru", "Aliyevich"),
        ("Pavel", "f", "ru", "Pavlovna"),
    ],
)
def test_patronymics(father: str, sex: str, style: str, patronymic: str) -> None:
    assert names.patronymic(father, sex, style) == patronymic


def test_the_lists_are_long_enough_and_have_no_duplicates() -> None:
    for given, at_least in ((names.UZ_MALE, 150), (names.UZ_FEMALE, 150), (names.KAA_MALE, 40),
                            (names.KAA_FEMALE, 40), (names.RU_MALE, 30), (names.RU_FEMALE, 30)):
        assert len(given) >= at_least
        assert len(set(given)) == len(given)
    assert "Ájiniyaz" in names.KAA_MALE and "Gúlnara" in names.KAA_FEMALE


def test_uzbek_letters_use_the_modifier_letters() -> None:
    everything = "".join(names.UZ_MALE + names.UZ_FEMALE)
    assert "'" not in everything and "\u2018" not in everything and "\u2019" not in everything
    assert "Oʻktam" in names.UZ_MALE and "\u02bb" in "Oʻktam"


def test_every_russian_surname_takes_a_feminine_form() -> None:
    for surname in names.RU_SURNAMES:
        assert names.surname_agrees(surname, "m")
        assert names.surname_agrees(names.russian_surname(surname, "f"), "f")
