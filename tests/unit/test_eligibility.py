import datetime as dt
import json
from typing import Any

import pytest

from core.eligibility import (
    ELIGIBILITY_ERROR_CODES,
    REASON_CODES,
    Decision,
    HouseholdFacts,
    IncomeFacts,
    MemberFacts,
    PropertyFacts,
    VehicleFacts,
    assess,
    income_months,
)
from core.errors import InvalidInput
from core.rates import RateBook

D = dt.date
BOOK = RateBook.load()
ON_2026 = D(2026, 3, 10)  # categories scheme, MCE 715,000, minimum wage 1,271,000
ON_2025 = D(2025, 9, 10)  # single criterion, MCE 669,000
MCE_2026 = 715_000


def aged(years: int, on: dt.date, *, month: int = 1) -> dt.date:
    return D(on.year - years, month, 1)


def member(age: int, sex: str = "m", on: dt.date = ON_2026, relation: str = "head", **kw: Any) -> MemberFacts:
    return MemberFacts(pinfl=f"{age:014d}", birth_date=aged(age, on), sex=sex, relation=relation, **kw)


FATHER, MOTHER = member(35), member(32, "f", relation="spouse")
CHILD = member(5, relation="child")


def family(per_member: int | None, members: tuple[MemberFacts, ...] = (FATHER, MOTHER), on: dt.date = ON_2026,
           **kw: Any) -> HouseholdFacts:
    """A household whose income per member over the counted months is exactly ``per_member``."""
    incomes: tuple[IncomeFacts, ...] = ()
    if per_member is not None:
        incomes = (IncomeFacts(income_months(on)[1], "wage", per_member * len(members) * 3),)
    return HouseholdFacts(members=members, incomes=incomes, **kw)


def codes(d: Decision) -> list[str]:
    return [r.code for r in d.reasons]


class TestIncome:
    def test_three_whole_months_before_the_application_month(self) -> None:
        assert income_months(D(2026, 3, 31)) == (D(2025, 12, 1), D(2026, 1, 1), D(2026, 2, 1))
        assert income_months(D(2026, 1, 1)) == (D(2025, 10, 1), D(2025, 11, 1), D(2025, 12, 1))

    def test_other_months_are_ignored(self) -> None:
        facts = HouseholdFacts(members=(FATHER, MOTHER), incomes=(
            IncomeFacts(D(2025, 11, 1), "wage", 9_000_000),  # before the window
            IncomeFacts(D(2025, 12, 1), "wage", 600_000),
            IncomeFacts(D(2026, 2, 1), "pension", 600_000),
            IncomeFacts(D(2026, 3, 1), "wage", 9_000_000),  # the application month
        ))
        d = assess(facts, ON_2026, BOOK)
        assert d.income_total == 1_200_000
        assert d.months_counted == 3
        assert d.income_per_member == 200_000
        assert [i["counted"] for i in d.inputs["incomes"]] == [False, True, True, False]

    def test_income_per_member_is_rounded_down(self) -> None:
        facts = HouseholdFacts(members=(FATHER, MOTHER, CHILD),
                               incomes=(IncomeFacts(D(2026, 1, 1), "wage", 1_000_000),))
        d = assess(facts, ON_2026, BOOK)
        assert d.income_per_member == 111_111  # 1,000,000 / 3 / 3 = 111,111.1
        assert d.inputs["income_rounding"] == "floor"

    def test_no_income_at_all(self) -> None:
        d = assess(family(None), ON_2026, BOOK)
        assert (d.income_total, d.income_per_member, d.eligible) == (0, 0, True)


class TestSingleCriterionBefore2026:
    def test_just_below_the_mce_is_low_income(self) -> None:
        d = assess(family(668_999, on=ON_2025), ON_2025, BOOK)
        assert d.eligible and d.category == "low_income"
        assert d.share_percent == 100
        assert d.programme == "material_assistance"
        assert d.monthly_amount == 420_000
        assert d.duration_months == 6
        assert codes(d) == ["income.below_threshold"]
        assert d.reasons[0].params == {"income_per_member": 668_999, "mce": 669_000}

    def test_at_the_mce_is_not_eligible_and_there_is_no_near_poor(self) -> None:
        d = assess(family(669_000, on=ON_2025), ON_2025, BOOK)
        assert not d.eligible and d.category is None
        assert (d.monthly_amount, d.duration_months, d.share_percent) == (0, 0, 0)
        assert codes(d) == ["income.above_threshold"]
        assert d.reasons[0].params == {"income_per_member": 669_000, "mce": 669_000}

    def test_child_benefit_runs_12_months(self) -> None:
        kids = (member(35, on=ON_2025), member(1, on=ON_2025, relation="child"))
        d = assess(family(100_000, kids, on=ON_2025), ON_2025, BOOK)
        assert (d.programme, d.monthly_amount, d.duration_months) == ("child_benefit", 360_000, 12)

    @pytest.mark.parametrize("on, mce", [
        (D(2025, 2, 3), 648_000), (D(2025, 2, 4), 669_000),
        (D(2026, 1, 31), 669_000), (D(2026, 2, 1), 715_000),
    ])
    def test_mce_row_in_force_on_the_application_date(self, on: dt.date, mce: int) -> None:
        d = assess(family(mce - 1, (member(35, on=on),), on=on), on, BOOK)
        assert d.mce == mce and d.eligible
        d = assess(family(mce, (member(35, on=on),), on=on), on, BOOK)
        assert d.mce == mce and d.category != "low_income"

    def test_the_2026_scheme_starts_on_2026_02_01(self) -> None:
        assert assess(family(100, on=D(2026, 1, 31)), D(2026, 1, 31), BOOK).category == "low_income"
        assert assess(family(100, on=D(2026, 2, 1)), D(2026, 2, 1), BOOK).category == "poor"


class TestCategories2026:
    @pytest.mark.parametrize("per_member, category, share", [
        (MCE_2026 - 1, "poor", 100),
        (MCE_2026, "near_poor", 75),  # ratio exactly 1.0
        (893_749, "near_poor", 75),
        (893_750, "near_poor", 50),  # ratio exactly 1.25
        (1_072_499, "near_poor", 50),
        (1_072_500, None, 0),  # ratio exactly 1.5
    ])
    def test_ratio_boundaries(self, per_member: int, category: str | None, share: int) -> None:
        d = assess(family(per_member), ON_2026, BOOK)
        assert (d.category, d.share_percent, d.eligible) == (category, share, category is not None)

    def test_near_poor_amount_is_the_share(self) -> None:
        d = assess(family(MCE_2026, (FATHER, MOTHER, CHILD)), ON_2026, BOOK)
        assert (d.programme, d.monthly_amount, d.duration_months) == ("child_benefit", 275_000 * 75 // 100, 6)
        near = d.reasons[0]
        assert near.code == "income.near_poverty"
        assert near.params == {"income_per_member": MCE_2026, "mce": MCE_2026, "from_ratio": "1.0",
                               "below_ratio": "1.25", "share_percent": 75}

    def test_share_is_rounded_down_to_whole_som(self) -> None:
        data = RateBook.shipped_data()
        data["tables"]["material_assistance"]["rows"][-1]["value"] = 420_001
        d = assess(family(MCE_2026), ON_2026, RateBook.from_dict(data))
        assert d.monthly_amount == 315_000  # 420,001 × 75 % = 315,000.75

    def test_poor_when_someone_can_work(self) -> None:
        d = assess(family(100_000), ON_2026, BOOK)
        assert (d.category, d.duration_months) == ("poor", 6)
        assert codes(d) == ["income.below_threshold", "category.poor"]
        assert d.reasons[1].params == {"able_members": 2}

    @pytest.mark.parametrize("members, category", [
        ((member(60), member(55, "f")), "state_supported"),  # pension ages
        ((member(59), member(55, "f")), "poor"),  # a man of 59 can work
        ((member(60), member(54, "f")), "poor"),  # a woman of 54 can work
        ((member(15), member(70, "f")), "state_supported"),  # under 16
        ((member(16), member(70, "f")), "poor"),
        ((member(40, disability="group1"), member(40, "f", disability="group2")), "state_supported"),
        ((member(40, disability="group3"), member(70, "f")), "poor"),
    ])
    def test_state_supported_when_no_one_can_work(self, members: tuple[MemberFacts, ...], category: str) -> None:
        d = assess(family(100_000, members), ON_2026, BOOK)
        assert d.category == category
        assert d.duration_months == {"state_supported": 12, "poor": 6}[category]

    def test_above_threshold_reason(self) -> None:
        d = assess(family(2_000_000), ON_2026, BOOK)
        assert codes(d) == ["income.above_threshold"]
        assert d.reasons[0].params == {"income_per_member": 2_000_000, "mce": MCE_2026}


class TestExclusionFilters:
    def decide(self, **kw: Any) -> Decision:
        return assess(family(100_000, **kw), ON_2026, BOOK)

    def test_one_home_is_fine_two_exclude(self) -> None:
        assert self.decide(properties=(PropertyFacts("residential"),)).eligible
        d = self.decide(properties=(PropertyFacts("residential"),) * 2)
        assert not d.eligible and d.category is None and d.monthly_amount == 0
        assert d.reasons[0].code == "exclusion.second_residence"
        assert d.reasons[0].params == {"residential_properties": 2, "limit": 1}
        assert "income.below_threshold" in codes(d)  # the income is still explained

    def test_any_non_residential_building(self) -> None:
        d = self.decide(properties=(PropertyFacts("non_residential"),))
        assert codes(d)[0] == "exclusion.non_residential_property"

    def test_car_of_7_years_excludes_8_does_not(self) -> None:
        d = self.decide(vehicles=(VehicleFacts(2019, True),))
        assert codes(d)[0] == "exclusion.new_car"
        assert d.reasons[0].params == {"year": 2019, "age": 7, "limit_years": 7}
        assert self.decide(vehicles=(VehicleFacts(2018, True),)).eligible
        assert self.decide(vehicles=(VehicleFacts(2025, False),)).eligible

    def test_two_roadworthy_vehicles(self) -> None:
        d = self.decide(vehicles=(VehicleFacts(2000, True), VehicleFacts(1995, True)))
        assert codes(d)[0] == "exclusion.many_vehicles"
        assert d.reasons[0].params == {"roadworthy_vehicles": 2, "limit": 2}
        assert self.decide(vehicles=(VehicleFacts(2000, True), VehicleFacts(1995, False))).eligible

    def test_bank_balance_at_five_minimum_wages(self) -> None:
        limit = 5 * 1_271_000
        assert self.decide(bank_balance_total=limit - 1).eligible
        d = self.decide(bank_balance_total=limit)
        assert codes(d)[0] == "exclusion.bank_balance"
        assert d.reasons[0].params == {"bank_balance_total": limit, "limit": limit, "minimum_wage": 1_271_000,
                                       "multiple": 5}

    def test_minimum_wage_row_in_force(self) -> None:
        on = D(2024, 9, 30)
        facts = family(100_000, (member(35, on=on),), on=on, bank_balance_total=5 * 980_000)
        assert not assess(facts, on, BOOK).eligible
        on = D(2024, 10, 1)
        facts = family(100_000, (member(35, on=on),), on=on, bank_balance_total=5 * 980_000)
        assert assess(facts, on, BOOK).eligible

    @pytest.mark.parametrize("body", ["defence", "interior", "emergency", "state_security", "national_guard",
                                      "customs"])
    def test_security_service(self, body: str) -> None:
        d = self.decide(members=(member(35, service_body=body), MOTHER))
        assert codes(d)[0] == "exclusion.security_service"
        assert d.reasons[0].params == {"body": body}

    def test_every_filter_is_reported(self) -> None:
        d = self.decide(
            members=(member(35, service_body="customs"), MOTHER),
            properties=(PropertyFacts("residential"), PropertyFacts("residential"), PropertyFacts("non_residential")),
            vehicles=(VehicleFacts(2024, True), VehicleFacts(2000, True)),
            bank_balance_total=10**9,
        )
        assert codes(d) == ["exclusion.second_residence", "exclusion.non_residential_property", "exclusion.new_car",
                            "exclusion.many_vehicles", "exclusion.bank_balance", "exclusion.security_service",
                            "income.below_threshold"]
        assert set(codes(d)) <= set(REASON_CODES)


class TestDecisionRecord:
    def test_round_trip_through_json(self) -> None:
        facts = family(MCE_2026, (FATHER, MOTHER, CHILD), vehicles=(VehicleFacts(2001, True),),
                       properties=(PropertyFacts("residential"),), bank_balance_total=1_000)
        d = assess(facts, ON_2026, BOOK)
        text = json.dumps(d.to_dict())
        assert Decision.from_dict(json.loads(text)) == d

    def test_inputs_hold_every_figure(self) -> None:
        d = assess(family(100_000, (FATHER, MOTHER, CHILD)), ON_2026, BOOK)
        i = d.inputs
        assert i["rates"]["mce"] == {"value": MCE_2026, "effective_from": "2026-02-01", "uncertain": True}
        assert i["rates"]["minimum_wage"]["value"] == 1_271_000
        assert i["thresholds"]["bank_balance_limit"] == 6_355_000
        assert i["thresholds"]["vehicle_age_limit_years"] == 7
        assert i["thresholds"]["near_poverty_brackets"][1] == {"from_ratio": "1.25", "below_ratio": "1.5",
                                                                "share_percent": 50}
        assert i["income_months"] == ["2025-12-01", "2026-01-01", "2026-02-01"]
        assert [m["able_to_work"] for m in i["members"]] == [True, True, False]
        assert i["amount"]["total"] == 275_000
        assert d.members == 3


class TestRefusals:
    @pytest.mark.parametrize("facts, code", [
        (HouseholdFacts(members=()), "eligibility.no_members"),
        (family(1, (member(30, "x"),)), "eligibility.sex"),
        (family(1, (member(30, disability="group4"),)), "eligibility.disability"),
        (family(1, (member(30, service_body="army"),)), "eligibility.service_body"),
        (family(1, properties=(PropertyFacts("garage"),)), "eligibility.property_kind"),
        (HouseholdFacts(members=(FATHER,), incomes=(IncomeFacts(D(2026, 1, 2), "wage", 1),)),
         "eligibility.income_month"),
        (HouseholdFacts(members=(FATHER,), incomes=(IncomeFacts(D(2026, 1, 1), "wage", -1),)),
         "eligibility.negative_amount"),
        (family(1, bank_balance_total=-5), "eligibility.negative_amount"),
        (family(1, (MemberFacts("x", D(2026, 3, 11), "m", "child"),)), "eligibility.birth_in_future"),
    ])
    def test_bad_facts(self, facts: HouseholdFacts, code: str) -> None:
        with pytest.raises(InvalidInput) as e:
            assess(facts, ON_2026, BOOK)
        assert e.value.code == code
        assert code in ELIGIBILITY_ERROR_CODES
