"""The exchange catalogue as data, and one record's validation."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest

from core.errors import InvalidInput
from core.exchange import EXCHANGE_ERROR_CODES, load_catalogue, validate_record
from core.exchange_files import CsvHeader, csv_header, parse_batch_file, parse_csv, parse_jsonl

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


def _wage(**change: object) -> dict[str, object]:
    return {"agency": "soliq", "item": "soliq.wage", "pinfl": HEAD, "key": "2026-11/301234567",
            "value": 1_000_000, "unit": "UZS", "as_of": "2026-12-01", "record_id": "W-1", **change}


@pytest.mark.parametrize(("raw", "code", "reason"), [
    # Each of these passed validation and then broke the whole batch in the database.
    (_wage(key="0000-12", as_of="0001-01-01"), "exchange.early_as_of", None),
    (_wage(key="0000-12/301234567"), "exchange.bad_key", "too_early"),
    (_wage(record_id="x\udc00"), "exchange.bad_record_id", "control_character"),
    (_wage(record_id="W\x00-1"), "exchange.bad_record_id", "control_character"),
    ({**_wage(), "agency": "bank", "item": "bank.social_card", "key": None, "unit": None, "value": "x\x00y"},
     "exchange.bad_value", "nul_character"),
    ({**_wage(), "agency": "bank", "item": "bank.social_card", "key": None, "unit": None, "value": "x\udc00"},
     "exchange.bad_value", "lone_surrogate"),
    # Digits of other scripts: int() and \d read them, the contract does not.
    (_wage(key="٢٠٢٦-11/301234567"), "exchange.bad_key", "pattern"),
    (_wage(value="١٠٠٠"), "exchange.wrong_type", None),
    (_wage(as_of="20261201"), "exchange.bad_as_of", None),
    (_wage(as_of="2026-W49-1"), "exchange.bad_as_of", None),
])
def test_text_that_no_database_stores_is_refused_with_a_reason(raw: dict[str, object], code: str,
                                                               reason: str | None) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_record(raw, TODAY)
    assert err.value.code == code and err.value.params.get("reason") == reason, err.value
    json.dumps(err.value.params, ensure_ascii=False).encode("utf-8")  # quotable in any answer


def test_every_field_is_trimmed_alike_and_plates_are_one_case() -> None:
    disability = validate_record({"agency": " vtek ", "item": "vtek.disability_group ", "pinfl": f" {HEAD} ",
                                  "value": " group1 ", "as_of": " 2026-12-01 ", "record_id": " ws-rid "}, TODAY)
    assert (disability.value, disability.record_id, disability.as_of) == ("group1", "ws-rid", dt.date(2026, 12, 1))
    assert validate_record(_wage(unit=" UZS "), TODAY).value == 1_000_000
    vehicle = {"agency": "yhxbb", "item": "yhxbb.vehicle", "pinfl": HEAD, "as_of": "2026-12-01", "record_id": "V1",
               "value": {"year": 2020, "roadworthy": True, "kind": " car "}}
    assert validate_record({**vehicle, "key": "01a123bc"}, TODAY).key == "01A123BC"
    assert validate_record({**vehicle, "key": "01A123BC"}, TODAY).fact_item == "yhxbb.vehicle|01A123BC"


def test_a_refusal_says_what_was_sent_and_what_was_expected() -> None:
    card = {**_wage(), "agency": "bank", "item": "bank.social_card", "key": None, "unit": None}
    with pytest.raises(InvalidInput) as err:
        validate_record({**card, "value": "   "}, TODAY)
    assert (err.value.code, err.value.params) == ("exchange.empty_value", {"item": "bank.social_card", "field": "value"})
    with pytest.raises(InvalidInput) as err:
        validate_record(_wage(key="text"), TODAY)
    assert err.value.params == {"item": "soliq.wage", "key": "month_employer", "reason": "pattern", "value": "text",
                                "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])/[0-9]{9}$", "example": "2026-11/301234567"}
    with pytest.raises(InvalidInput) as err:
        validate_record(_wage(key="2026-12/301234567", as_of="2026-11-30"), TODAY)
    assert (err.value.params["reason"], err.value.params["as_of"]) == ("after_as_of", "2026-11-30")
    with pytest.raises(InvalidInput) as err:
        validate_record(_wage(value="lots"), TODAY)
    assert (err.value.params["expected"], err.value.params["got"]) == ("money", "string")


def test_a_json_line_is_read_as_the_api_reads_a_body() -> None:
    good, twice, nan = parse_jsonl(json.dumps(_wage()) + "\n" + '{"value": 1, "value": 5000000}\n'
                                   + '{"value": NaN}\n')
    assert good.error is None and good.text == json.dumps(_wage())
    assert twice.error is not None and (twice.error.code, twice.error.params) == (
        "exchange.duplicate_field", {"line": 2, "field": "value"})
    assert nan.error is not None and nan.error.code == "exchange.malformed_line" and nan.text == '{"value": NaN}'


def test_a_csv_record_is_read_by_the_csv_rules_and_a_short_one_says_so() -> None:
    header = "agency,item,pinfl,key,value,unit,as_of,record_id\n"
    row = f"soliq,soliq.wage,{HEAD},2026-11/301234567,1200000,UZS,2026-12-01"
    card = f'bank,bank.social_card,{HEAD},,"first\nsecond",,2026-12-01,C-1\n'
    records = parse_csv(header + row + ",W-1\n" + card + row + "\n" + row + ',"W-2\n')
    assert [(p.line, p.end, p.error.code if p.error else None) for p in records] == [
        (2, 2, None), (3, 4, None), (5, 5, "exchange.malformed_line"), (6, 6, "exchange.malformed_line")]
    assert records[1].record["value"] == "first\nsecond"
    assert records[2].error is not None and records[2].error.params == {
        "line": 5, "reason": "columns", "expected": 8, "got": 7}
    assert records[3].error is not None and records[3].error.params["reason"] == "unclosed_quote"


def test_a_stray_quote_costs_its_own_line_only() -> None:
    header = "agency,item,pinfl,key,value,unit,as_of,record_id\n"
    rows = [f"soliq,soliq.wage,{HEAD},2026-11/30123456{n},1200000,UZS,2026-12-01,W-{n}\n" for n in range(12)]
    rows[1] = rows[1].replace("W-1", '"W-1')
    records = parse_csv(header + "".join(rows))
    assert [(p.line, p.error.code if p.error else None) for p in records] == [
        (2, None), (3, "exchange.malformed_line")] + [(n, None) for n in range(4, 14)]


def _birth(**value: object) -> dict[str, object]:
    fields = {"birth_date": "2026-11-20", "sex": "f", "surname": "Karimova", "given_name": "Malika",
              "mother": "42907882622017", **value}
    return {"agency": "fhdyo", "item": "fhdyo.birth", "pinfl": "62011262621018", "as_of": "2026-11-25",
            "record_id": "B-1", "value": fields}


def test_an_optional_field_absent_null_or_blank_is_one_record() -> None:
    records = [validate_record(_birth(**extra), TODAY) for extra in ({}, {"patronymic": None, "father": None},
                                                                     {"patronymic": " ", "father": ""})]
    assert records[0] == records[1] == records[2]
    assert records[0].stored_value()["value"]["patronymic"] is None
    # As a JSON string (a CSV cell), the same.
    assert validate_record({**_birth(), "value": json.dumps(_birth()["value"])}, TODAY) == records[0]


@pytest.mark.parametrize(("value", "code", "reason"), [
    ({"mother": None}, "exchange.missing_field", None),  # neither parent
    ({"sex": "x"}, "exchange.bad_value", "not_allowed"),
    ({"surname": "K" * 81}, "exchange.bad_value", "too_long"),
    ({"birth_date": "20.11.2026"}, "exchange.bad_value", "not_a_date"),
    ({"birth_date": "2026-11-26"}, "exchange.born_after_as_of", None),
    ({"father": "42907882622017"}, "exchange.bad_value", "sex"),
    ({"mother": "62011262621018"}, "exchange.bad_value", "own_parent"),
    ({"mother": "42907882622018"}, "exchange.bad_value", None),  # a wrong check digit
    ({"mother": 42907882622017}, "exchange.wrong_type", None),
])
def test_a_bad_birth_is_refused_before_the_registry_is_read(value: dict[str, object], code: str,
                                                            reason: str | None) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_record(_birth(**value), TODAY)
    assert err.value.code == code and code in EXCHANGE_ERROR_CODES
    if reason is not None:
        assert err.value.params["reason"] == reason


def test_a_newborn_is_the_child_of_the_head_s_family_and_a_family_without_its_head_gets_one() -> None:
    from core.civil_registry import Member, newborn_relation, next_head

    assert [newborn_relation(r) for r in (["spouse"], ["head", "other"], ["child"], ["sibling"], [])] == [
        "child", "child", "grandchild", "other", "other"]
    kids = [Member(3, "child", dt.date(2012, 1, 1)), Member(4, "child", dt.date(2004, 1, 1))]
    assert next_head([*kids, Member(2, "spouse", dt.date(1990, 1, 1))], TODAY) == 2
    assert next_head(kids, TODAY) == 4  # the oldest adult
    assert next_head(kids[:1], TODAY) == 3
    assert next_head([], TODAY) is None
