"""Numbers on the command line: out of range is a usage error (exit 2) naming the range, never a
traceback or a silent clamp."""

from __future__ import annotations

import pytest

from core.exchange import MAX_BATCH
from core.services.assessment import CHUNK
from spsr.cli import build_parser


@pytest.mark.parametrize(("argv", "says"), [
    (["assess", "--chunk", "0"], "--chunk: '0' is not a whole number of 1 or more"),
    (["assess", "--chunk", "ten"], "--chunk: 'ten' is not a whole number of 1 or more"),
    (["seed", "--households", "-5"], "--households: '-5' is not a whole number of 0 or more"),
    (["seed", "--chunk", "0"], "--chunk: '0' is not a whole number of 1 or more"),
    (["seed", "--lanes", "17"], "--lanes: '17' is not a whole number from 1 to 16"),
    (["exchange", "import", "f.jsonl", "--batch", "0"], "--batch: '0' is not a whole number from 1 to 10,000"),
    (["exchange", "import", "f.jsonl", "--batch", "50000"], "from 1 to 10,000"),
    (["clients", "add", "x", "--role", "agency", "--rate", "0"], "--rate: '0' is not a whole number from 1 to 100,000"),
    (["clients", "add", "x", "--role", "agency", "--expires", "-3"], "--expires: '-3' is not a whole number from 1"),
    (["exchange", "generate", "--out", "f", "--share", "2"], "--share: '2' is not a fraction over 0 and at most 1"),
    (["exchange", "generate", "--out", "f", "--share", "-1"], "'-1' is not a fraction"),
    (["exchange", "generate", "--out", "f", "--share", "0"], "'0' is not a fraction"),
    (["exchange", "generate", "--out", "f", "--share", "nan"], "'nan' is not a fraction"),
    (["exchange", "generate", "--out", "f", "--share", "inf"], "'inf' is not a fraction"),
    (["serve", "--port", "70000"], "--port: '70000' is not a whole number from 1 to 65,535"),
])
def test_a_number_out_of_range_is_a_usage_error(argv: list[str], says: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    assert says in capsys.readouterr().err


def test_numbers_in_range_and_the_defaults() -> None:
    parser = build_parser()
    assert parser.parse_args(["assess", "--all"]).chunk == CHUNK  # what the benchmark measures
    assert parser.parse_args(["assess", "--chunk", "5_000"]).chunk == 5000
    assert parser.parse_args(["exchange", "import", "f.jsonl"]).batch == MAX_BATCH
    assert parser.parse_args(["exchange", "generate", "--out", "f", "--share", "0.25"]).share == 0.25
    assert parser.parse_args(["seed", "--households", "0", "--lanes", "16"]).lanes == 16


def test_the_server_and_its_simulators_meet_on_port_or_8080(monkeypatch: pytest.MonkeyPatch) -> None:
    """``PORT=9000 make run`` serves on 9000; ``spsr phone`` and ``spsr sms`` in a shell with the
    same PORT find it there."""
    monkeypatch.delenv("PORT", raising=False)
    parser = build_parser()
    assert parser.parse_args(["serve"]).port == 8080
    assert parser.parse_args(["sms", "+998901234567", "HOLAT"]).url == "http://127.0.0.1:8080"
    monkeypatch.setenv("PORT", "9000")
    parser = build_parser()
    assert parser.parse_args(["serve"]).port == 9000
    assert parser.parse_args(["sms", "+998901234567", "HOLAT"]).url == "http://127.0.0.1:9000"
    assert parser.parse_args(["phone", "+998901234567"]).url == "http://127.0.0.1:9000/ussd/africastalking"
    assert parser.parse_args(["serve", "--port", "9100"]).port == 9100
