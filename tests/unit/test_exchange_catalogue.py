"""The exchange catalogue as data, and one record's validation."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from core.errors import InvalidInput
from core.exchange import (
    EXCHANGE_ERROR_CODES,
    CsvHeader,
    csv_header,
    load_catalogue,
    parse_batch_file,
    parse_csv,
    parse_jsonl,
    validate_record,
)

TODAY = dt.date(2026, 12, 10)
HEAD = "31210632040244"


def test_the_catalogue_covers_every_agency_the_issue_names() -> None:
    catalogue = load_catalogue()
    assert len(catalogue.items) >= 50
    for agency in ("fhdyo", "soliq", "pensiya", "kadastr", "yhxbb", "bank", "bandlik", "vtek", "mudofaa",
                   "iiv", "bojxona"):
        assert any(s.agency == agency for s in catalogue.items.values()), agency
    assert {s.table for s in catalogue.items.values()} >= {
        "incomes", "vehicles", "properties", "bank_balances", "persons", None}


@pytest.mark.parametrize(("change", "code"), [
    ({"agency": "mvd"}, "exchange.unknown_agency"),
    ({"item": "soliq.lottery"}, "exchange.unknown_item"),
    ({"agency": "bank"}, "exchange.item_of_other_agency"),
    ({"pinfl": "30101990123458"}, "exchange.bad_pinfl"),
    ({"value": "much"}, "exchange.wrong_type"),
    ({"value": -5}, "exchange.bad_value"),
    ({"value": 99999999999999999999}, "exchange.bad_value"),  # past any database integer
    ({"value": 10**15}, "exchange.bad_value"),
    ({"unit": "USD"}, "exchange.wrong_unit"),
    ({"as_of": "2026-12-11"}, "exchange.future_as_of"),
    ({"as_of": "yesterday"}, "exchange.bad_as_of"),
    ({"key": None}, "exchange.key_required"),
    ({"key": "2026-12/301234567", "as_of": "2026-11-30"}, "exchange.bad_key"),
    ({"record_id": ""}, "exchange.missing_field"),
])
def test_a_bad_record_is_refused_with_a_code(change: dict[str, object], code: str) -> None:
    raw = {"agency": "soliq", "item": "soliq.wage", "pinfl": HEAD, "key": "2026-11/301234567",
           "value": 1_000_000, "unit": "UZS", "as_of": "2026-12-01", "record_id": "W-1", **change}
    with pytest.raises(InvalidInput) as err:
        validate_record(raw, TODAY)
    assert err.value.code == code
    assert code in EXCHANGE_ERROR_CODES


def test_csv_values_are_read_as_their_type() -> None:
    [line] = parse_csv("agency,item,pinfl,key,value,unit,as_of,record_id\n"
                       f"soliq,soliq.wage,{HEAD},2026-11/301234567,1200000,UZS,2026-12-01,W-9\n")
    record = validate_record(line.record, TODAY)
    assert (record.value, record.fact_item) == (1_200_000, "soliq.wage|2026-11/301234567")


def test_a_broken_last_line_is_a_truncated_file() -> None:
    lines = parse_jsonl('{"a": 1}\n{"b": 2}\n{"c": ')
    assert [p.error.code if p.error else None for p in lines] == [None, None, "exchange.truncated_line"]
    assert parse_jsonl('{"a": 1\n{"b": 2}\n')[0].error.code == "exchange.malformed_line"


def test_a_csv_header_is_read_in_any_case_order_and_separator() -> None:
    assert csv_header(" Record_ID ;AS_OF;value;pinfl;item;agency") == CsvHeader(
        ("record_id", "as_of", "value", "pinfl", "item", "agency"), ";")
    with pytest.raises(InvalidInput) as err:
        csv_header("agency,item,pinfl,value,as_of,record_id,Value")
    assert (err.value.code, err.value.params) == ("exchange.duplicate_column", {"column": "value"})
    with pytest.raises(InvalidInput) as err:
        csv_header(f"soliq,soliq.wage,{HEAD},2026-11/301234567,1200000,UZS,2026-12-01,W-9")
    assert err.value.code == "exchange.csv_header" and err.value.params["missing"][0] == "agency"


def test_each_line_is_decoded_alone_and_a_csv_ending_without_a_newline_is_truncated() -> None:
    header = b"\xef\xbb\xbfagency,item,pinfl,key,value,unit,as_of,record_id\n"
    row = f"soliq,soliq.wage,{HEAD},2026-11/301234567,3100000,UZS,2026-12-01,W-9".encode()
    lines = list(parse_batch_file(io.BytesIO(header + row + b"\n" + b"\xff\n" + row[:-9]), csv_format=True))
    assert [(p.line, p.error.code if p.error else None) for p in lines] == [
        (2, None), (3, "exchange.not_utf8"), (4, "exchange.truncated_line")]
    with pytest.raises(InvalidInput, match="exchange.not_text"):
        list(parse_batch_file(io.BytesIO("{}\n".encode("utf-16")), csv_format=False))
