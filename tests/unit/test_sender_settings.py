"""The senders' pace from the environment: defaults, values, and a bad value named at start-up."""

from __future__ import annotations

import pytest

from core.config import Settings
from core.services.dispatch import Pace
from spsr.cli import main


def test_defaults_and_values() -> None:
    default = Settings.from_env({})
    assert (default.sms_per_second, default.sms_concurrency) == (50.0, 10)
    assert (default.telegram_per_second, default.telegram_per_chat_per_second) == (30.0, 1.0)
    assert default.outbox_lease_seconds == 60.0
    set_ = Settings.from_env({"SPSR_SMS_PER_SECOND": "250", "SPSR_SMS_CONCURRENCY": " 32 ",
                              "SPSR_TELEGRAM_PER_SECOND": "25.5", "SPSR_TELEGRAM_PER_CHAT_PER_SECOND": "0.5",
                              "SPSR_TELEGRAM_CONCURRENCY": "4", "SPSR_OUTBOX_LEASE_SECONDS": "120"})
    assert (set_.sms_per_second, set_.sms_concurrency, set_.telegram_per_second) == (250.0, 32, 25.5)
    assert (set_.telegram_per_chat_per_second, set_.telegram_concurrency, set_.outbox_lease_seconds) == (0.5, 4, 120)


@pytest.mark.parametrize(("name", "value"), [
    ("SPSR_SMS_PER_SECOND", "0"), ("SPSR_SMS_PER_SECOND", "-5"), ("SPSR_SMS_PER_SECOND", "fast"),
    ("SPSR_SMS_PER_SECOND", "nan"), ("SPSR_SMS_PER_SECOND", "inf"), ("SPSR_SMS_CONCURRENCY", "2.5"),
    ("SPSR_TELEGRAM_CONCURRENCY", "0"), ("SPSR_OUTBOX_LEASE_SECONDS", "-1"),
])
def test_a_bad_value_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_the_command_says_which_setting_is_wrong_before_it_starts(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SPSR_SMS_CONCURRENCY", "many")
    assert main(["demo"], freeze=False) == 2
    assert "SPSR_SMS_CONCURRENCY must be a whole number above 0, not 'many'" in capsys.readouterr().err


def test_a_claim_is_sized_to_the_rate_and_kept_within_half_a_lease() -> None:
    assert Pace(rate=50, concurrency=10).claim_size == 25
    assert Pace(rate=2000, concurrency=10).claim_size == 1000
    assert Pace(rate=1, concurrency=8).claim_size == 16  # 16 s of sending at 1/s, within half a minute
    assert Pace(rate=0.1, concurrency=8).claim_size == 3  # 30 s at one every 10 s
