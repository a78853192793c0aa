import datetime as dt
from fractions import Fraction
from typing import Any

import pytest

from core.errors import InvalidInput, NotFound
from core.rates import RATES_ERROR_CODES, DatedTable, RateBook, Row

D = dt.date


@pytest.fixture
def book() -> RateBook:
    return RateBook.load()


MCE_ROWS = [
    (D(2022, 1, 1), 498_000),
    (D(2023, 7, 18), 568_000),
    (D(2024, 1, 20), 621_000),
    (D(2024, 4, 30), 648_000),
    (D(2025, 2, 4), 669_000),
    (D(2026, 2, 1), 715_000),
]


@pytest.mark.parametrize("start, value", MCE_ROWS)
def test_mce_changes_on_its_effective_date(book: RateBook, start: dt.date, value: int) -> None:
    assert book.mce.in_force(start) == value
    previous = [v for s, v in MCE_ROWS if s < start]
    if previous:
        assert book.mce.in_force(start - dt.timedelta(days=1)) == previous[-1]


def test_before_the_first_row_is_refused(book: RateBook) -> None:
    with pytest.raises(NotFound) as e:
        book.mce.in_force(D(2021, 12, 31))
    assert e.value.code == "rates.no_row"
    assert e.value.params["table"] == "mce"


def test_2026_mce_is_marked_uncertain(book: RateBook) -> None:
    assert book.mce.row_in_force(D(2026, 2, 1)).uncertain
    assert not book.mce.row_in_force(D(2026, 1, 31)).uncertain


def test_child_benefit_rates_change_on_2025_07_01(book: RateBook) -> None:
    before = book.child_benefit.in_force(D(2025, 6, 30))
    after = book.child_benefit.in_force(D(2025, 7, 1))
    assert (before.first_under_3, before.first_3_to_18, before.second, before.third_and_further) == (
        325_000, 250_000, 150_000, 100_000)
    assert (after.first_under_3, after.first_3_to_18, after.second, after.third_and_further) == (
        360_000, 275_000, 165_000, 110_000)
    assert book.material_assistance.in_force(D(2025, 6, 30)) == 380_000
    assert book.material_assistance.in_force(D(2025, 7, 1)) == 420_000


def test_minimum_wage_rows_are_uncertain(book: RateBook) -> None:
    assert book.minimum_wage.in_force(D(2024, 9, 30)) == 980_000
    assert book.minimum_wage.in_force(D(2024, 10, 1)) == 1_050_000
    assert book.minimum_wage.in_force(D(2025, 8, 1)) == 1_271_000
    assert all(r.uncertain for r in book.minimum_wage.rows)
    assert "UNCERTAIN" in book.minimum_wage.note


def test_durations_and_scheme_switch_on_2026_02_01(book: RateBook) -> None:
    assert dict(book.durations.in_force(D(2026, 1, 31))) == {"child_benefit": 12, "material_assistance": 6}
    assert dict(book.durations.in_force(D(2026, 2, 1))) == {"state_supported": 12, "poor": 6, "near_poor": 6}
    assert book.eligibility_scheme.in_force(D(2026, 1, 31)) == "single_criterion"
    assert book.eligibility_scheme.in_force(D(2026, 2, 1)) == "categories"
    assert book.near_poverty_brackets.in_force(D(2026, 1, 31)) == ()
    brackets = book.near_poverty_brackets.in_force(D(2026, 2, 1))
    assert [(b.from_ratio, b.below_ratio, b.share_percent) for b in brackets] == [
        (Fraction(1), Fraction(5, 4), 75), (Fraction(5, 4), Fraction(3, 2), 50)]


def test_fixed_rules(book: RateBook) -> None:
    on = D(2025, 3, 1)
    assert book.applications.in_force(on).cutoff_day == 16
    window = book.payment_window.in_force(on)
    assert (window.first_day, window.last_day) == (4, 27)
    age = book.working_age.in_force(on)
    assert (age.min_age, age.male_max_age, age.female_max_age) == (16, 59, 54)
    assert age.unable_disabilities == {"group1", "group2"}
    f = book.exclusion_filters.in_force(on)
    assert f.vehicle_age_limit_years == 7
    assert f.many_vehicles_from == 2
    assert f.bank_balance_min_wage_multiple == 5
    assert f.service_bodies == {"defence", "interior", "emergency", "state_security", "national_guard", "customs"}
    g = book.grievance_deadlines.in_force(on)
    assert (g.answer_days, g.answer_with_check_months, g.max_extensions, g.extension_max_months,
            g.appeal_months) == (15, 1, 1, 1, 12)


def test_every_table_has_a_note_and_source() -> None:
    data = RateBook.shipped_data()
    for name, table in data["tables"].items():
        assert table["note"], name
        assert table["source"], name


def test_from_dict_takes_a_corrected_figure() -> None:
    data: dict[str, Any] = RateBook.shipped_data()
    data["tables"]["mce"]["rows"][-1]["effective_from"] = "2026-01-01"
    book = RateBook.from_dict(data)
    assert book.mce.in_force(D(2026, 1, 1)) == 715_000
    assert RateBook.load().mce.in_force(D(2026, 1, 1)) == 669_000  # the shipped book is untouched


def test_load_is_cached() -> None:
    assert RateBook.load() is RateBook.load()


@pytest.mark.parametrize("mutate", [
    lambda d: d["tables"].pop("mce"),
    lambda d: d["tables"]["mce"].update(rows=[]),
    lambda d: d["tables"]["mce"]["rows"].reverse(),
    lambda d: d["tables"]["mce"]["rows"][0].update(value="498000"),
    lambda d: d["tables"]["mce"]["rows"][0].update(effective_from="2022-13-01"),
    lambda d: d.pop("tables"),
])
def test_malformed_data_is_refused(mutate: Any) -> None:
    data = RateBook.shipped_data()
    mutate(data)
    with pytest.raises(InvalidInput) as e:
        RateBook.from_dict(data)
    assert e.value.code == "rates.malformed"


def test_dated_table_generic() -> None:
    t = DatedTable("x", (Row(D(2020, 1, 1), "a"), Row(D(2021, 1, 1), "b")))
    assert t.in_force(D(2020, 12, 31)) == "a"
    assert t.in_force(D(2021, 1, 1)) == "b"
    assert t.in_force(D(2099, 1, 1)) == "b"


def test_error_codes_are_listed() -> None:
    assert RATES_ERROR_CODES == ("rates.no_row", "rates.malformed")
