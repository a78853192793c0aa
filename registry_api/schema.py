"""The API's schema layer: JSON-Schema dicts, and the small validator the handlers use.

The same dicts feed the OpenAPI document (``registry_api.openapi``), so what the handlers accept
is exactly what the contract says. The validator covers the keywords these schemas use (type,
properties, required, additionalProperties, enum, const, minLength, maxLength, pattern, minimum,
maximum, items, minItems, maxItems, oneOf, $ref into ``COMPONENTS``) and nothing more: the
installed ``jsonschema-rs`` arrives only with the test tools, and a runtime dependency for a
hundred lines was not worth it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from core.clock import in_tashkent
from core.errors import InvalidInput

Schema = dict[str, Any]
Properties = dict[str, Schema]  # an object schema's "properties": one schema per name

PINFL = {"type": "string", "pattern": "^[0-9]{14}$", "description": "14-digit personal number (JShShIR)"}
TRACKING = {"type": "string", "pattern": "^[0-9]{9}$", "description": "9-digit tracking number"}
DATE = {"type": "string", "format": "date"}
DATETIME = {"type": "string", "format": "date-time"}
MONTH = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "description": "YYYY-MM"}
MONEY = {"type": "integer", "description": "whole so'm"}
NULLABLE_STR = {"type": ["string", "null"]}
NULLABLE_DATE = {"type": ["string", "null"], "format": "date"}
NULLABLE_INT = {"type": ["integer", "null"]}
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def obj(properties: Mapping[str, Schema], required: tuple[str, ...] = (), *, closed: bool = True,
        **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": dict(properties), **extra}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def page_of(item: str) -> Schema:
    return obj({"items": {"type": "array", "items": ref(item)},
                "next": {"type": ["string", "null"], "description": "URL of the next page, null on the last"}},
               ("items", "next"))


COMPONENTS: dict[str, Schema] = {}


def iso_datetime(value: dt.datetime) -> str:
    """ISO 8601 with its offset, in Tashkent time whichever database the value came from."""
    return in_tashkent(value).isoformat()


def component(name: str, schema: Schema) -> Schema:
    COMPONENTS[name] = schema
    return ref(name)


# --- validation ----------------------------------------------------------------------------------

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,),
    "integer": (int,), "number": (int, float), "null": (type(None),),
}


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[kind])


@cache
def _pattern(p: str) -> re.Pattern[str]:
    return re.compile(p)


def _fail(path: str, rule: str, **params: Any) -> InvalidInput:
    return InvalidInput(f"body.{rule}", pointer=path or "/", **params)


def validate(value: Any, schema: Schema, path: str = "") -> None:
    """Raise ``InvalidInput("body.<rule>", pointer=...)`` at the first place ``value`` breaks ``schema``."""
    if "$ref" in schema:
        validate(value, COMPONENTS[schema["$ref"].rsplit("/", 1)[1]], path)
        return
    if "oneOf" in schema:
        matches = 0
        for option in schema["oneOf"]:
            try:
                validate(value, option, path)
            except InvalidInput:
                continue
            matches += 1
        if matches != 1:
            refusal = _closest_refusal(value, schema["oneOf"], path) if matches == 0 else None
            raise refusal or _fail(path, "one_of")
        return
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, k) for k in kinds):
            raise _fail(path, "type", expected=" | ".join(kinds))
    if "const" in schema and value != schema["const"]:
        raise _fail(path, "enum", allowed=[schema["const"]])
    if "enum" in schema and value not in schema["enum"]:
        raise _fail(path, "enum", allowed=list(schema["enum"]))
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise _fail(path, "min_length", limit=schema["minLength"])
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise _fail(path, "max_length", limit=schema["maxLength"])
        if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
            raise _fail(path, "pattern", pattern=schema["pattern"])
        if schema.get("format") == "date" and not _is_date(value):
            raise _fail(path, "format", format="date")
    if _is(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            raise _fail(path, "minimum", limit=schema["minimum"])
        if "maximum" in schema and value > schema["maximum"]:
            raise _fail(path, "maximum", limit=schema["maximum"])
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise _fail(path, "min_items", limit=schema["minItems"])
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise _fail(path, "max_items", limit=schema["maxItems"])
        if "items" in schema:
            for i, item in enumerate(value):
                validate(item, schema["items"], f"{path}/{i}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                raise _fail(f"{path}/{name}", "required")
        for name, item in value.items():
            if name in props:
                validate(item, props[name], f"{path}/{name}")
            elif schema.get("additionalProperties") is False:
                raise _fail(f"{path}/{name}", "unknown_field")


def _closest_refusal(value: Any, options: list[Schema], path: str) -> InvalidInput | None:
    """Why an object fits none of the options, told by the one that names most of its fields:
    a record without ``record_id`` hears that, not only that it is neither a record nor a batch."""
    if not isinstance(value, dict):
        return None

    def known(option: Schema) -> int:
        while "$ref" in option:
            option = COMPONENTS[option["$ref"].rsplit("/", 1)[1]]
        return len(value.keys() & option.get("properties", {}).keys())

    counts = [known(option) for option in options]
    best = max(counts)
    if best == 0 or counts.count(best) > 1:  # nothing to tell them apart by
        return None
    try:
        validate(value, options[counts.index(best)], path)
    except InvalidInput as refusal:
        return refusal
    return None


def _is_date(text: str) -> bool:
    """``YYYY-MM-DD`` (JSON Schema's "date"): Python's fromisoformat also reads ``2026-W01-1``."""
    if not _DATE.fullmatch(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True
