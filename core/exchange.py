"""The data-exchange catalogue and the validation of one agency record, as pure functions.

The catalogue (``core/data/exchange_catalogue.json``) lists every data item the registry
accepts: which agency sends it, what it means, its value type and unit, whether it is keyed
(by month, by month and employer, or by an account / plate / cadastre number), how long it
stays valid, and which registry table eligibility reads it from (``applies``; none = a fact
only). A record is ``agency, item, pinfl, value, as_of, record_id`` (+ ``key``, ``unit``).

The value in force of one item for one person is identified by its *fact key*: the item, and
for keyed items ``item|key`` (``soliq.wage|2026-11/123456789``).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from core.errors import InvalidInput
from core.identity import Pinfl

MAX_BATCH = 10_000

EXCHANGE_ERROR_CODES: tuple[str, ...] = (
    "exchange.not_an_object",
    "exchange.missing_field",
    "exchange.unknown_agency",
    "exchange.unknown_item",
    "exchange.item_of_other_agency",
    "exchange.bad_pinfl",
    "exchange.unknown_pinfl",
    "exchange.wrong_type",
    "exchange.wrong_unit",
    "exchange.bad_value",
    "exchange.bad_key",
    "exchange.key_required",
    "exchange.key_not_expected",
    "exchange.bad_as_of",
    "exchange.future_as_of",
    "exchange.bad_record_id",
    "exchange.duplicate_in_batch",
    "exchange.record_id_reused",
    "exchange.batch_too_large",
    "exchange.malformed_line",
    "exchange.truncated_line",
    "exchange.not_utf8",
    "exchange.catalogue",
)

TYPES = ("money", "int", "year", "bool", "date", "enum", "text", "pinfl", "object")
KEYS = (None, "month", "month_employer", "text")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_MONTH_EMPLOYER = re.compile(r"^\d{4}-(0[1-9]|1[0-2])/\d{9}$")
_TEXT_KEY = re.compile(r"^[A-Za-z0-9:/._-]{1,24}$")
MAX_TEXT = 80
MIN_YEAR = 1900
# No amount, count or area an agency reports comes near 10^15 (a quadrillion so'm); the bound keeps
# every value inside a 64-bit database integer, and the sum of a person's incomes in a month or of
# their balances too unless over 9,000 such records add up to it.
MAX_NUMBER = 10**15 - 1


@dataclass(frozen=True, slots=True)
class ItemSpec:
    """One data item of the catalogue."""

    agency: str
    item: str
    meaning: str
    type: str
    unit: str | None
    valid_days: int
    key: str | None
    applies: Mapping[str, str] | None
    values: tuple[str, ...] = ()
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def table(self) -> str | None:
        return None if self.applies is None else self.applies.get("table")


@dataclass(frozen=True)
class Catalogue:
    agencies: Mapping[str, str]
    items: Mapping[str, ItemSpec]

    def items_for_table(self, table: str) -> tuple[ItemSpec, ...]:
        return tuple(s for s in self.items.values() if s.table == table)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Catalogue:
        agencies = dict(data["agencies"])
        items: dict[str, ItemSpec] = {}
        for raw in data["items"]:
            spec = ItemSpec(
                agency=raw["agency"], item=raw["item"], meaning=raw["meaning"], type=raw["type"],
                unit=raw.get("unit"), valid_days=int(raw["valid_days"]), key=raw.get("key"),
                applies=raw.get("applies"), values=tuple(raw.get("values", ())),
                fields=dict(raw.get("fields", {})),
            )
            if (spec.agency not in agencies or spec.type not in TYPES or spec.key not in KEYS
                    or spec.item in items or not spec.item.startswith(spec.agency + ".")
                    or len(spec.item) > 34 or spec.valid_days < 1):
                raise InvalidInput("exchange.catalogue", item=spec.item)
            items[spec.item] = spec
        return cls(agencies, items)


@functools.cache
def load_catalogue() -> Catalogue:
    text = resources.files("core").joinpath("data/exchange_catalogue.json").read_text("utf-8")
    return Catalogue.from_dict(json.loads(text))


@dataclass(frozen=True, slots=True)
class AgencyRecord:
    """A validated record: its value normalised to JSON, its fact key computed."""

    agency: str
    item: str
    pinfl: str
    value: Any
    as_of: dt.date
    record_id: str
    key: str | None = None

    @property
    def fact_item(self) -> str:
        return self.item if self.key is None else f"{self.item}|{self.key}"

    def stored_value(self) -> dict[str, Any]:
        return {"value": self.value, "key": self.key}


def _type_error(spec: ItemSpec, value: Any, name: str = "value") -> InvalidInput:
    return InvalidInput("exchange.wrong_type", item=spec.item, field=name, expected=spec.type
                        if name == "value" else spec.fields.get(name, "?"), got=type(value).__name__)


def _scalar(kind: str, value: Any, spec: ItemSpec, name: str, today: dt.date) -> Any:
    if kind.startswith("enum:"):
        allowed: tuple[str, ...] = tuple(kind[5:].split(","))
        kind = "enum"
    else:
        allowed = spec.values
    if kind in ("money", "int", "year"):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
                value = int(value)
            else:
                raise _type_error(spec, value, name)
        if value > MAX_NUMBER:
            # As text: a client reading JSON numbers as doubles would misread the number it sent.
            raise InvalidInput("exchange.bad_value", item=spec.item, field=name, value=str(value)[:24],
                               limit=MAX_NUMBER)
        if value < 0:
            raise InvalidInput("exchange.bad_value", item=spec.item, field=name, value=value)
        if kind == "year" and not MIN_YEAR <= value <= today.year + 1:
            raise InvalidInput("exchange.bad_value", item=spec.item, field=name, value=value)
        return value
    if kind == "bool":
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        if not isinstance(value, bool):
            raise _type_error(spec, value, name)
        return value
    if kind == "date":
        if not isinstance(value, str):
            raise _type_error(spec, value, name)
        try:
            day = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise _type_error(spec, value, name) from None
        if day > today:
            raise InvalidInput("exchange.bad_value", item=spec.item, field=name, value=value)
        return day.isoformat()
    if kind == "enum":
        if not isinstance(value, str):
            raise _type_error(spec, value, name)
        if value not in allowed:
            raise InvalidInput("exchange.bad_value", item=spec.item, field=name, value=value)
        return value
    if kind == "pinfl":
        if not isinstance(value, str):
            raise _type_error(spec, value, name)
        try:
            return Pinfl.parse(value).value
        except InvalidInput:
            raise InvalidInput("exchange.bad_value", item=spec.item, field=name) from None
    if kind == "text":
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
            raise _type_error(spec, value, name)
        return value.strip()
    raise InvalidInput("exchange.catalogue", item=spec.item)


def _value(spec: ItemSpec, value: Any, today: dt.date) -> Any:
    if spec.type != "object":
        return _scalar(spec.type, value, spec, "value", today)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _type_error(spec, value) from None
    if not isinstance(value, dict):
        raise _type_error(spec, value)
    missing = sorted(set(spec.fields) - set(value))
    if missing:
        raise InvalidInput("exchange.missing_field", item=spec.item, field=missing[0])
    extra = sorted(set(value) - set(spec.fields))
    if extra:
        raise InvalidInput("exchange.bad_value", item=spec.item, field=extra[0])
    return {name: _scalar(kind, value[name], spec, name, today) for name, kind in spec.fields.items()}


def _key(spec: ItemSpec, key: Any, as_of: dt.date) -> str | None:
    if spec.key is None:
        if key not in (None, ""):
            raise InvalidInput("exchange.key_not_expected", item=spec.item)
        return None
    if key in (None, ""):
        raise InvalidInput("exchange.key_required", item=spec.item, key=spec.key)
    if not isinstance(key, str):
        raise InvalidInput("exchange.bad_key", item=spec.item, key=spec.key)
    text: str = key.strip()
    pattern = {"month": _MONTH, "month_employer": _MONTH_EMPLOYER, "text": _TEXT_KEY}[spec.key]
    if not pattern.match(text):
        raise InvalidInput("exchange.bad_key", item=spec.item, key=spec.key)
    if spec.key in ("month", "month_employer") and text[:7] > as_of.isoformat()[:7]:
        # An income for a month the agency has not reached yet on its own as-of date.
        raise InvalidInput("exchange.bad_key", item=spec.item, key=spec.key)
    return text


REQUIRED = ("agency", "item", "pinfl", "value", "as_of", "record_id")


def validate_record(raw: Any, today: dt.date, catalogue: Catalogue | None = None) -> AgencyRecord:
    """Check one record against the catalogue; raise ``InvalidInput`` with the first problem."""
    catalogue = catalogue or load_catalogue()
    if not isinstance(raw, Mapping):
        raise InvalidInput("exchange.not_an_object")
    for name in REQUIRED:
        if raw.get(name) is None or raw.get(name) == "":
            raise InvalidInput("exchange.missing_field", field=name)
    agency = str(raw["agency"]).strip()
    if agency not in catalogue.agencies:
        raise InvalidInput("exchange.unknown_agency", agency=agency)
    item = str(raw["item"]).strip()
    spec = catalogue.items.get(item)
    if spec is None:
        raise InvalidInput("exchange.unknown_item", item=item)
    if spec.agency != agency:
        raise InvalidInput("exchange.item_of_other_agency", item=item, agency=agency)
    record_id = raw["record_id"]
    if not isinstance(record_id, str | int) or isinstance(record_id, bool) or not 0 < len(str(record_id)) <= 80:
        raise InvalidInput("exchange.bad_record_id")
    try:
        pinfl = Pinfl.parse(str(raw["pinfl"])).value
    except InvalidInput as exc:
        raise InvalidInput("exchange.bad_pinfl", reason=exc.code) from None
    try:
        as_of = dt.date.fromisoformat(str(raw["as_of"]).strip())
    except ValueError:
        raise InvalidInput("exchange.bad_as_of", as_of=str(raw["as_of"])[:20]) from None
    if as_of > today:
        raise InvalidInput("exchange.future_as_of", as_of=as_of.isoformat(), today=today.isoformat())
    unit = raw.get("unit")
    if unit not in (None, "") and unit != spec.unit:
        raise InvalidInput("exchange.wrong_unit", item=item, unit=str(unit)[:20], expected=spec.unit)
    value = _value(spec, raw["value"], today)
    key = _key(spec, raw.get("key"), as_of)
    return AgencyRecord(agency, item, pinfl, value, as_of, str(record_id), key)


# --- batch files -----------------------------------------------------------------------------

# A CSV header names these columns, in any order, in any case; ``key`` and ``unit`` may be left
# out, other columns are ignored.
CSV_COLUMNS = ("agency", "item", "pinfl", "key", "value", "unit", "as_of", "record_id")
CSV_SEPARATORS = (",", ";", "\t")  # spreadsheets set to a decimal comma save with ';'
# A problem with a whole file, raised before any of its records is read.
FILE_ERROR_CODES: tuple[str, ...] = (
    "exchange.not_text",
    "exchange.csv_header",
    "exchange.duplicate_column",
    "exchange.csv_as_jsonl",
)
_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """A line of a batch file: the raw record, or why it could not be read."""

    line: int
    record: Any = None
    error: InvalidInput | None = None


@dataclass(frozen=True, slots=True)
class CsvHeader:
    names: tuple[str, ...]
    delimiter: str


def _csv_row(text: str, delimiter: str) -> list[str]:
    return next(csv.reader([text], delimiter=delimiter, strict=True), [])


def csv_header(text: str) -> CsvHeader:
    """The header line of a CSV batch: its column names (trimmed, lower case) and separator.

    Raises ``exchange.csv_header`` if no separator gives the required columns, and
    ``exchange.duplicate_column`` if one is named twice (which of the two would count?).
    """
    for delimiter in CSV_SEPARATORS:
        try:
            names = tuple(name.strip().lower() for name in _csv_row(text, delimiter))
        except csv.Error:
            continue
        if set(REQUIRED) <= set(names):
            twice = sorted({n for n in names if n in CSV_COLUMNS and names.count(n) > 1})
            if twice:
                raise InvalidInput("exchange.duplicate_column", column=twice[0])
            return CsvHeader(names, delimiter)
    try:
        found = {name.strip().lower() for name in _csv_row(text, ",")}
    except csv.Error:
        found = set()
    raise InvalidInput("exchange.csv_header", missing=[n for n in REQUIRED if n not in found],
                       json=text.lstrip().startswith("{"))


def parse_csv_line(text: str, header: CsvHeader, number: int, *, ends_file: bool = False) -> ParsedLine:
    """One CSV data line (without its newline). ``ends_file``: the file ends on it, unterminated.

    Such a line is refused as truncated even when it reads well: a file cut inside its last
    value (``31`` of ``3100000``) is otherwise indistinguishable from a whole one, and storing a
    wrong amount is worse than asking a writer that omits the final newline to add it.
    """
    if ends_file:
        return ParsedLine(number, error=InvalidInput("exchange.truncated_line", line=number))
    try:
        row = _csv_row(text, header.delimiter)
    except csv.Error:
        row = None
    if row is None or len(row) != len(header.names):
        return ParsedLine(number, error=InvalidInput("exchange.malformed_line", line=number))
    return ParsedLine(number, dict(zip(header.names, row, strict=True)))


def parse_jsonl_line(text: str, number: int, *, ends_file: bool = False) -> ParsedLine:
    """One JSON line; a broken one the file ends on (no newline) is a truncated file."""
    try:
        return ParsedLine(number, json.loads(text))
    except (ValueError, RecursionError):  # nested past Python's depth: malformed too
        pass
    code = "exchange.truncated_line" if ends_file else "exchange.malformed_line"
    return ParsedLine(number, error=InvalidInput(code, line=number))


def _first_line_text(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidInput("exchange.not_text", reason="utf16")
    if b"\x00" in raw:
        raise InvalidInput("exchange.not_text", reason="nul")
    try:
        return raw.decode("utf-8").removeprefix(_BOM)
    except UnicodeDecodeError:
        raise InvalidInput("exchange.not_text", reason="utf8") from None


def parse_batch_file(lines: Iterable[bytes], *, csv_format: bool) -> Iterator[ParsedLine]:
    """The data lines of a batch file given as its lines of bytes, in file order, blank ones skipped.

    Each line is decoded on its own, so one that is not UTF-8 is refused (``exchange.not_utf8``)
    and the others are read. A problem with the file as a whole (it is not text, a CSV header
    lacks columns) raises ``InvalidInput`` (one of :data:`FILE_ERROR_CODES`) before any line is
    yielded. Line numbers are the file's, the header's included.
    """
    header: CsvHeader | None = None
    for number, raw in enumerate(lines, 1):
        ends_file = not raw.endswith(b"\n")
        if number == 1:
            text = _first_line_text(raw)
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield ParsedLine(number, error=InvalidInput("exchange.not_utf8", line=number))
                continue
        text = text.rstrip("\r\n")
        if not text.strip():
            continue  # blank lines, before the header too
        if csv_format and header is None:
            header = csv_header(text)
            continue
        if csv_format:
            assert header is not None
            yield parse_csv_line(text, header, number, ends_file=ends_file)
            continue
        parsed = parse_jsonl_line(text, number, ends_file=ends_file)
        if number == 1 and parsed.error is not None and _is_csv_header(text):
            raise InvalidInput("exchange.csv_as_jsonl")
        yield parsed


def _is_csv_header(text: str) -> bool:
    try:
        csv_header(text)
    except InvalidInput:
        return False
    return True


def parse_jsonl(text: str) -> list[ParsedLine]:
    """Read JSON lines from text (see :func:`parse_batch_file`)."""
    return list(parse_batch_file(io.BytesIO(text.encode("utf-8")), csv_format=False))


def parse_csv(text: str) -> list[ParsedLine]:
    """Read CSV with a header naming :data:`CSV_COLUMNS` from text (see :func:`parse_batch_file`)."""
    return list(parse_batch_file(io.BytesIO(text.encode("utf-8")), csv_format=True))


# --- the records behind the registry's own data (seed, ``spsr exchange generate``) -------------

# Registry income sources → the item an agency reports them under.
SOURCE_ITEMS: Mapping[str, str] = {
    "wage": "soliq.wage", "pension": "pensiya.old_age_pension",
    "self_employment": "soliq.self_employment_income", "agriculture": "soliq.agricultural_income",
    "benefit": "pensiya.social_allowance", "other": "soliq.rental_income"}
# A member's security body → the item its agency reports service under.
SERVICE_ITEMS: Mapping[str, str] = {
    "defence": "mudofaa.service", "interior": "iiv.service", "emergency": "fvv.service",
    "state_security": "dxx.service", "national_guard": "milliy_gvardiya.service", "customs": "bojxona.service"}


def employer_tin(person_id: int) -> str:
    """A stable 9-digit employer TIN for a synthetic wage (one employer per person)."""
    return f"{300_000_000 + person_id % 99_999_999:09d}"


# Each mirrored record as (item, key, record id). The seed and ``spsr exchange generate`` both
# name records through these, so importing the generated file into a seeded registry is a no-op.
Mirrored = tuple[str, str | None, str]


def _text_key(value: str | None, fallback: str) -> str:
    key = "".join(ch for ch in (value or "") if ch.isalnum() or ch in ":/._-")[:24]
    return key or fallback


def income_record(person_id: int, month: dt.date, source: str) -> Mirrored | None:
    item = SOURCE_ITEMS.get(source)
    if item is None:
        return None
    m = month.isoformat()[:7]
    return item, f"{m}/{employer_tin(person_id)}" if source == "wage" else m, f"{item}:{person_id}:{m}"


def vehicle_record(vehicle_id: int, plate: str | None) -> Mirrored:
    return "yhxbb.vehicle", _text_key(plate, f"V{vehicle_id}"), f"yhxbb.vehicle:{vehicle_id}"


def property_record(property_id: int, kind: str, cadastre: str | None) -> Mirrored:
    item = f"kadastr.{kind}_property"
    return item, _text_key(cadastre, f"K{property_id}"), f"{item}:{property_id}"


def balance_record(balance_id: int) -> Mirrored:
    return "bank.balance", f"A{balance_id}", f"bank.balance:{balance_id}"


def disability_record(person_id: int) -> Mirrored:
    return "vtek.disability_group", None, f"vtek.disability_group:{person_id}"


def service_record(person_id: int, body: str | None) -> Mirrored | None:
    item = SERVICE_ITEMS.get(body or "")
    return None if item is None else (item, None, f"{item}:{person_id}")


def mirror_as_of(today: dt.date) -> dt.date:
    """The as-of date of synthetic records: the 1st of this month (yesterday on the 1st)."""
    first = today.replace(day=1)
    return first - dt.timedelta(days=1) if first == today else first


def balance_as_of(on: dt.date, today: dt.date, valid_days: int) -> dt.date:
    """A synthetic balance's as-of date: its own, kept inside its validity and not after the others."""
    return min(max(on, today - dt.timedelta(days=valid_days - 1)), mirror_as_of(today))
