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

import datetime as dt
import functools
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from core.civil_registry import check_birth
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
    "exchange.empty_value",
    "exchange.bad_key",
    "exchange.key_required",
    "exchange.key_not_expected",
    "exchange.bad_as_of",
    "exchange.born_after_as_of",
    "exchange.future_as_of",
    "exchange.early_as_of",
    "exchange.bad_record_id",
    "exchange.duplicate_in_batch",
    "exchange.record_id_reused",
    "exchange.total_too_large",
    "exchange.batch_too_large",
    "exchange.malformed_line",
    "exchange.duplicate_field",
    "exchange.truncated_line",
    "exchange.not_utf8",
    "exchange.catalogue",
)

TYPES = ("money", "int", "year", "bool", "date", "enum", "text", "pinfl", "object")
KEYS = (None, "month", "month_employer", "text")
# ASCII classes only: ``\d`` would take Arabic-Indic or full-width digits, which int() reads.
KEY_PATTERNS: Mapping[str, str] = {
    "month": "^[0-9]{4}-(0[1-9]|1[0-2])$",
    "month_employer": "^[0-9]{4}-(0[1-9]|1[0-2])/[0-9]{9}$",
    "text": "^[A-Za-z0-9:/._-]{1,24}$",
}
KEY_EXAMPLES: Mapping[str, str] = {"month": "2026-11", "month_employer": "2026-11/301234567", "text": "01A123BC"}
_KEY_RE = {kind: re.compile(pattern) for kind, pattern in KEY_PATTERNS.items()}
_DATE = re.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INTEGER = re.compile("-?[0-9]{1,18}")
MAX_TEXT = 80
MAX_RECORD_ID = 80
MIN_YEAR = 1900
# The earliest as-of date, date value or keyed month taken. Civil-registry items stay valid for a
# century, so a birth registered decades ago may rightly carry an old as-of date; before 1900 no
# living person's record begins (and date arithmetic nears year 1, which Python cannot go below).
EARLIEST = dt.date(MIN_YEAR, 1, 1)
# No amount, count or area an agency reports comes near 10^15 (a quadrillion so'm); the bound keeps
# every value inside a 64-bit database integer. Ingest holds the sums it stores to it as well
# (a household's incomes in a month, its balances): see ``core.services.exchange_totals``.
MAX_NUMBER = 10**15 - 1
# Keys of these tables are vehicle plates: ``01a123bc`` and ``01A123BC`` are one vehicle.
_UPPER_CASE_KEYS = ("vehicles",)
# Keys kept in a column shorter than a text key may be: a plate (an Uzbek one has 8 or 9 characters)
# in ``vehicles.plate``. Longer, it was a whole batch failing on PostgreSQL, not one record refused.
KEY_LIMITS: Mapping[str, int] = {"vehicles": 12}


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
    # Of an object's optional fields, at least one of these is given (a birth names a parent).
    one_of: tuple[str, ...] = ()

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
                fields=dict(raw.get("fields", {})), one_of=tuple(raw.get("one_of", ())),
            )
            if (spec.agency not in agencies or spec.type not in TYPES or spec.key not in KEYS
                    or any(not spec.fields.get(name, "").endswith("?") for name in spec.one_of)
                    or spec.item in items or not spec.item.startswith(spec.agency + ".")
                    or len(spec.item) > 34 or spec.valid_days < 1):
                raise InvalidInput("exchange.catalogue", item=spec.item)
            items[spec.item] = spec
        return cls(agencies, items)


@functools.cache
def load_catalogue() -> Catalogue:
    text = resources.files("core").joinpath("data/exchange_catalogue.json").read_text("utf-8")
    return Catalogue.from_dict(json.loads(text))


def is_lapsed(spec: ItemSpec, as_of: dt.date, today: dt.date) -> bool:
    """Past its item's validity on ``today``: what ``expire_facts`` retires (its SQL says the same)."""
    return as_of < today - dt.timedelta(days=spec.valid_days)


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


# --- text as received ----------------------------------------------------------------------------

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object", list: "array",
               type(None): "null"}


def json_type(value: Any) -> str:
    """A value's type as JSON names it (what a sender wrote), not as Python does."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def echo(value: Any, limit: int = 40) -> str:
    """Received text to quote back in a refusal: cut short, and encodable (a lone surrogate, which
    JSON's ``\\udc00`` escape yields, would fail the UTF-8 of the answer or of the rejected file)."""
    return str(value)[:limit].encode("utf-8", "replace").decode("utf-8")


def _unstorable(text: str) -> str | None:
    """Why no database column takes ``text``: a NUL (PostgreSQL stores none in text or JSON) or a
    lone surrogate (no UTF-8 holds one); None when it is storable. Line breaks are text."""
    if "\x00" in text:
        return "nul_character"
    if any(unicodedata.category(ch) == "Cs" for ch in text):
        return "lone_surrogate"
    return None


# --- one record ----------------------------------------------------------------------------------


def _type_error(spec: ItemSpec, value: Any, name: str = "value") -> InvalidInput:
    return InvalidInput("exchange.wrong_type", item=spec.item, field=name, expected=spec.type
                        if name == "value" else spec.fields.get(name, "?").rstrip("?"), got=json_type(value))


def _bad(spec: ItemSpec, name: str, reason: str, value: Any = None, **params: Any) -> InvalidInput:
    sent = {} if value is None else {"value": echo(value) if isinstance(value, str) else value}
    return InvalidInput("exchange.bad_value", item=spec.item, field=name, reason=reason, **sent, **params)


def _number(kind: str, sent: Any, spec: ItemSpec, name: str, today: dt.date) -> int:
    if isinstance(sent, int) and not isinstance(sent, bool):
        value = sent
    elif isinstance(sent, str) and _INTEGER.fullmatch(sent):
        value = int(sent)
    else:
        raise _type_error(spec, sent, name)
    if value > MAX_NUMBER:
        # As text: a client reading JSON numbers as doubles would misread the number it sent.
        raise InvalidInput("exchange.bad_value", item=spec.item, field=name, reason="too_large",
                           value=str(value)[:24], limit=MAX_NUMBER)
    if value < 0:
        raise _bad(spec, name, "negative", value)
    if kind == "year" and not MIN_YEAR <= value <= today.year + 1:
        raise _bad(spec, name, "year_out_of_range", value, earliest=MIN_YEAR, latest=today.year + 1)
    return value


def _date(value: Any, spec: ItemSpec, name: str, today: dt.date) -> str:
    if not isinstance(value, str):
        raise _type_error(spec, value, name)
    try:
        day = dt.date.fromisoformat(value) if _DATE.fullmatch(value) else None
    except ValueError:
        day = None
    if day is None:  # fromisoformat alone also reads 20261205 and 2026-W49-1
        raise _bad(spec, name, "not_a_date", value, expected="YYYY-MM-DD")
    if day > today:
        raise _bad(spec, name, "future", value, today=today.isoformat())
    if day < EARLIEST:
        raise _bad(spec, name, "too_early", value, earliest=EARLIEST.isoformat())
    return day.isoformat()


def _scalar(kind: str, value: Any, spec: ItemSpec, name: str, today: dt.date) -> Any:
    if isinstance(value, str):
        value = value.strip()  # every field is trimmed alike (CSV cells often carry spaces)
        if not value:
            raise InvalidInput("exchange.empty_value", item=spec.item, field=name)
    if kind.startswith("enum:"):
        allowed: tuple[str, ...] = tuple(kind[5:].split(","))
        kind = "enum"
    else:
        allowed = spec.values
    if kind in ("money", "int", "year"):
        return _number(kind, value, spec, name, today)
    if kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        if not isinstance(value, bool):
            raise _type_error(spec, value, name)
        return value
    if kind == "date":
        return _date(value, spec, name, today)
    if kind == "enum":
        if not isinstance(value, str):
            raise _type_error(spec, value, name)
        if value not in allowed:
            raise _bad(spec, name, "not_allowed", value, allowed=list(allowed))
        return value
    if kind == "pinfl":
        if not isinstance(value, str):
            raise _type_error(spec, value, name)
        try:
            return Pinfl.parse(value).value
        except InvalidInput as exc:
            raise _bad(spec, name, exc.code) from None
    if kind == "text":
        if not isinstance(value, str):
            raise _type_error(spec, value, name)
        if len(value) > MAX_TEXT:
            raise _bad(spec, name, "too_long", value, limit=MAX_TEXT)
        reason = _unstorable(value)
        if reason is not None:
            raise _bad(spec, name, reason, value)
        return value
    raise InvalidInput("exchange.catalogue", item=spec.item)


def _value(spec: ItemSpec, value: Any, today: dt.date) -> Any:
    if spec.type != "object":
        return _scalar(spec.type, value, spec, "value", today)
    if isinstance(value, str):
        try:
            value = strict_json(value)
        except DuplicateField as exc:
            raise InvalidInput("exchange.duplicate_field", item=spec.item, field=echo(exc.name)) from None
        except ValueError:
            raise _type_error(spec, value) from None
    if not isinstance(value, dict):
        raise _type_error(spec, value)
    missing = sorted(name for name, kind in spec.fields.items() if not kind.endswith("?") and name not in value)
    if missing:
        raise InvalidInput("exchange.missing_field", item=spec.item, field=missing[0])
    extra = sorted(set(value) - set(spec.fields))
    if extra:
        raise _bad(spec, echo(extra[0]), "unknown_field", expected=sorted(spec.fields))
    out: dict[str, Any] = {}
    for name, kind in spec.fields.items():
        sent = value.get(name)
        if kind.endswith("?") and (sent is None or (isinstance(sent, str) and not sent.strip())):
            out[name] = None  # absent, null and blank alike: one record however a sender spells "none"
        else:
            out[name] = _scalar(kind.rstrip("?"), sent, spec, name, today)
    if spec.one_of and all(out[name] is None for name in spec.one_of):
        raise InvalidInput("exchange.missing_field", item=spec.item, field=spec.one_of[0], one_of=list(spec.one_of))
    return out


def _key(spec: ItemSpec, key: Any, as_of: dt.date) -> str | None:
    if spec.key is None:
        if key not in (None, ""):
            raise InvalidInput("exchange.key_not_expected", item=spec.item)
        return None
    if key in (None, ""):
        raise InvalidInput("exchange.key_required", item=spec.item, key=spec.key,
                           pattern=KEY_PATTERNS[spec.key], example=KEY_EXAMPLES[spec.key])

    def bad(reason: str, **params: Any) -> InvalidInput:
        return InvalidInput("exchange.bad_key", item=spec.item, key=spec.key, reason=reason,
                            value=echo(key) if isinstance(key, str) else key, **params)

    if not isinstance(key, str):
        raise bad("not_text", got=json_type(key))
    text = key.upper() if spec.table in _UPPER_CASE_KEYS else key
    if not _KEY_RE[spec.key].fullmatch(text):
        raise bad("pattern", pattern=KEY_PATTERNS[spec.key], example=KEY_EXAMPLES[spec.key])
    limit = KEY_LIMITS.get(spec.table or "")
    if limit is not None and len(text) > limit:
        raise bad("too_long", limit=limit)
    if spec.key in ("month", "month_employer"):
        if text[:7] > as_of.isoformat()[:7]:
            # An income for a month the agency has not reached yet on its own as-of date.
            raise bad("after_as_of", as_of=as_of.isoformat())
        if text[:7] < EARLIEST.isoformat()[:7]:
            raise bad("too_early", earliest=EARLIEST.isoformat()[:7])
    return text


REQUIRED = ("agency", "item", "pinfl", "value", "as_of", "record_id")
_TRIMMED = (*REQUIRED, "key", "unit")


def _record_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInput("exchange.bad_record_id", reason="type", got=json_type(value))
    text = str(value)
    if len(text) > MAX_RECORD_ID:
        raise InvalidInput("exchange.bad_record_id", reason="too_long", limit=MAX_RECORD_ID)
    if not text.isprintable():  # control and format characters, lone surrogates, line breaks
        raise InvalidInput("exchange.bad_record_id", reason="control_character", value=echo(text))
    return text


def validate_record(raw: Any, today: dt.date, catalogue: Catalogue | None = None) -> AgencyRecord:
    """Check one record against the catalogue; raise ``InvalidInput`` with the first problem.

    Every text field is trimmed first, wherever it came from (a CSV cell, JSON, the API).
    """
    catalogue = catalogue or load_catalogue()
    if not isinstance(raw, Mapping):
        raise InvalidInput("exchange.not_an_object", got=json_type(raw))
    fields = {name: raw[name].strip() if isinstance(raw.get(name), str) else raw.get(name) for name in _TRIMMED}
    for name in REQUIRED:
        if fields[name] is None or (fields[name] == "" and name != "value"):
            raise InvalidInput("exchange.missing_field", field=name)
    agency = str(fields["agency"])
    if agency not in catalogue.agencies:
        raise InvalidInput("exchange.unknown_agency", agency=echo(agency))
    item = str(fields["item"])
    spec = catalogue.items.get(item)
    if spec is None:
        raise InvalidInput("exchange.unknown_item", item=echo(item))
    if spec.agency != agency:
        raise InvalidInput("exchange.item_of_other_agency", item=item, agency=agency)
    record_id = _record_id(fields["record_id"])
    try:
        pinfl = Pinfl.parse(str(fields["pinfl"])).value
    except InvalidInput as exc:
        raise InvalidInput("exchange.bad_pinfl", reason=exc.code) from None
    as_of = _as_of(fields["as_of"], today)
    unit = fields["unit"]
    if unit not in (None, "") and (not isinstance(unit, str) or spec.unit is None
                                   or unit.casefold() != spec.unit.casefold()):
        raise InvalidInput("exchange.wrong_unit", item=item, unit=echo(unit, 20), expected=spec.unit)
    value = _value(spec, fields["value"], today)
    key = _key(spec, fields["key"], as_of)
    if spec.applies is not None and spec.applies.get("column") == "birth_date":
        check_birth(item, pinfl, value, as_of)
    return AgencyRecord(agency, item, pinfl, value, as_of, record_id, key)


def _as_of(value: Any, today: dt.date) -> dt.date:
    text = str(value)
    try:
        as_of = dt.date.fromisoformat(text) if _DATE.fullmatch(text) else None
    except ValueError:
        as_of = None
    if as_of is None:
        raise InvalidInput("exchange.bad_as_of", as_of=echo(text, 20), expected="YYYY-MM-DD")
    if as_of > today:
        raise InvalidInput("exchange.future_as_of", as_of=as_of.isoformat(), today=today.isoformat())
    if as_of < EARLIEST:
        raise InvalidInput("exchange.early_as_of", as_of=as_of.isoformat(), earliest=EARLIEST.isoformat())
    return as_of


# --- JSON as the API reads it ----------------------------------------------------------------------


class DuplicateField(ValueError):
    """A JSON object names a field twice: json keeps the last, other parsers the first."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise DuplicateField(name)
        seen.add(name)
    return dict(pairs)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(text: str | bytes) -> Any:
    """JSON as RFC 8259 has it, read as the API reads a body: a field named twice raises
    :class:`DuplicateField`; NaN and Infinity (which Python reads) and anything else malformed
    raise ``ValueError``."""
    try:
        return json.loads(text, object_pairs_hook=_unique, parse_constant=_not_json)
    except RecursionError:  # nested past Python's depth
        raise ValueError("nested too deep") from None


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
    return "yhxbb.vehicle", _text_key(plate, f"V{vehicle_id}").upper(), f"yhxbb.vehicle:{vehicle_id}"


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
