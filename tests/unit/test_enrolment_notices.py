"""The notices automatic assignment queues read as a sentence in every language, with the money,
the months and the reasons of the decision."""

from __future__ import annotations

import pytest

from core.i18n import use_locale
from core.services.messages import UNKNOWN_ERROR, render

STARTED = {"programme": "child_benefit", "amount": 360_000, "first_month": "2027-01-01",
           "last_month": "2027-06-01", "months": 6}
ENDING = {"last_month": "2027-06-01", "reasons": [
    {"code": "income.above_threshold", "params": {"income_per_member": 900_000, "mce": 715_000}},
    {"code": "exclusion.new_car", "params": {"year": 2024, "age": 2, "limit_years": 7}}]}


@pytest.mark.parametrize(("language", "money", "until", "car"), [
    ("uz", "360 000 soʻm", "2027-yil 30-iyungacha", "2024"),
    ("kaa", "360 000 som", "30-iyun", "2024"),
    ("ru", "360 000 сум", "30 июня 2027 г. включительно", "2024"),
])
def test_started_and_ending_notices_are_worded(language: str, money: str, until: str, car: str) -> None:
    with use_locale(language):
        apology = UNKNOWN_ERROR and render("no.such.template", {}, language)
    started = render("enrolment.started", STARTED, language)
    ending = render("enrolment.ending", ENDING, language)
    for text in (started, ending):
        assert text != apology and "{" not in text and "1140" in text
    assert money in started
    assert until in ending and car in ending and "715 000" in ending
