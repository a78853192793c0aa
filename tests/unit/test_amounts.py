import datetime as dt

import pytest

from core.amounts import AMOUNT_LINE_CODES, AMOUNTS_ERROR_CODES, child_benefit, material_assistance
from core.errors import InvalidInput
from core.rates import RateBook

D = dt.date
BOOK = RateBook.load()
ON = D(2025, 9, 15)


def born_aged(years: int, on: dt.date = ON) -> dt.date:
    """A birthday a month before ``on``, ``years`` years ago."""
    return D(on.year - years, on.month - 1, 10)


def test_worked_example_children_aged_1_5_8_12_give_745000() -> None:
    amount = child_benefit([born_aged(12), born_aged(1), born_aged(8), born_aged(5)], ON, BOOK)
    assert amount.total == 745_000
    assert [(line.code, line.amount) for line in amount.lines] == [
        ("child_benefit.first_under_3", 360_000),
        ("child_benefit.second", 165_000),
        ("child_benefit.third_and_further", 110_000),
        ("child_benefit.third_and_further", 110_000),
    ]
    assert [line.birth_date for line in amount.lines] == [born_aged(1), born_aged(5), born_aged(8), born_aged(12)]
    assert amount.programme == "child_benefit"
    assert amount.rates_from == D(2025, 7, 1)


def test_worked_example_at_the_earlier_rates() -> None:
    on = D(2025, 6, 30)
    children = [born_aged(a, on) for a in (1, 5, 8, 12)]
    assert child_benefit(children, on, BOOK).total == 325_000 + 150_000 + 100_000 + 100_000


def test_first_child_rate_when_none_is_under_3() -> None:
    amount = child_benefit([born_aged(3), born_aged(9)], ON, BOOK)
    assert [(line.code, line.amount) for line in amount.lines] == [
        ("child_benefit.first_3_to_18", 275_000), ("child_benefit.second", 165_000)]


def test_third_birthday_moves_the_first_child_rate() -> None:
    born = D(2022, 9, 15)
    assert child_benefit([born], D(2025, 9, 14), BOOK).total == 360_000
    assert child_benefit([born], D(2025, 9, 15), BOOK).total == 275_000


def test_children_of_18_do_not_count() -> None:
    born = D(2007, 9, 15)
    assert child_benefit([born, born_aged(10)], D(2025, 9, 14), BOOK).total == 275_000 + 165_000
    assert child_benefit([born, born_aged(10)], D(2025, 9, 15), BOOK).total == 275_000
    with pytest.raises(InvalidInput) as e:
        child_benefit([born], D(2025, 9, 15), BOOK)
    assert e.value.code == "amounts.no_children"


def test_a_child_not_yet_born_is_refused() -> None:
    with pytest.raises(InvalidInput) as e:
        child_benefit([D(2025, 9, 16)], D(2025, 9, 15), BOOK)
    assert e.value.code == "amounts.birth_in_future"


def test_newborn_counts_from_birth_day() -> None:
    assert child_benefit([ON], ON, BOOK).total == 360_000


def test_material_assistance() -> None:
    assert material_assistance(D(2025, 6, 30), BOOK).total == 380_000
    a = material_assistance(D(2025, 7, 1), BOOK)
    assert a.total == 420_000
    assert a.to_dict() == {"programme": "material_assistance", "total": 420_000, "rates_from": "2025-07-01",
                           "lines": [{"code": "material_assistance.base", "amount": 420_000, "birth_date": None}]}


def test_codes_are_listed() -> None:
    amount = child_benefit([born_aged(a) for a in (1, 5, 8)], ON, BOOK)
    assert {line.code for line in amount.lines} <= set(AMOUNT_LINE_CODES)
    assert AMOUNTS_ERROR_CODES == ("amounts.no_children", "amounts.birth_in_future")


@pytest.mark.parametrize("ages", [(), (1,), (5,), (1, 5), (4, 7), (1, 5, 8, 12), (2, 3, 4, 6, 9, 17)])
@pytest.mark.parametrize("share", [100, 75, 50])
def test_a_basis_priced_again_gives_the_decided_amount(ages: tuple[int, ...], share: int) -> None:
    from core.amounts import AmountBasis, child_benefit, material_assistance, price

    book = RateBook.load()
    on = dt.date(2026, 12, 10)
    births = [on.replace(year=on.year - a) - dt.timedelta(days=30) for a in ages]
    amount = child_benefit(births, on, book) if births else material_assistance(on, book)
    basis = AmountBasis.of(amount, share)
    assert basis.children == len(ages) and basis.infant == any(a < 3 for a in ages)
    assert price(basis, on, book) == amount.total * share // 100
