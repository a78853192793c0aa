"""Every refusal as RFC 9457 ``application/problem+json``: the one place errors become HTTP.

The ``type`` is stable per reason code (``https://spsr.uz/problems/pinfl.check_digit``) so that
agencies can branch on it; the ``title`` is translated into the caller's Accept-Language.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core.errors import DomainError
from core.i18n import N_, _
from core.services.messages import ERRORS

log = logging.getLogger("registry_api")

PROBLEM_BASE = "https://spsr.uz/problems/"
PROBLEM_JSON = "application/problem+json"


class ApiError(DomainError):
    """A refusal of the HTTP layer itself (a missing key, a stale ETag), carrying its status."""

    kind = "api"

    def __init__(self, status: int, code: str, *, headers: dict[str, str] | None = None, **params: Any) -> None:
        super().__init__(code, **params)
        self.status = status
        self.headers = headers or {}


STATUS_BY_KIND = {"invalid": 422, "not_found": 404, "conflict": 409, "transition": 409, "forbidden": 403}
# Optimistic-lock refusals from the core are a failed precondition in HTTP terms.
STATUS_BY_CODE = {"grievance.stale": 412, "application.stale": 412, "broadcast.stale": 412}

TITLE_BY_KIND = {
    "invalid": N_("The request is not valid."),
    "not_found": N_("Not found."),
    "conflict": N_("The request conflicts with the current state of the registry."),
    "transition": N_("This action is not allowed in the current state."),
    "forbidden": N_("You are not allowed to do this."),
}
TITLE_BY_PREFIX = {
    "body.": N_("The request body does not match the schema."),
    "query.": N_("A query parameter is not valid."),
    "path.": N_("A part of the address is not valid."),
}
TITLES = {
    "pinfl.format": N_("A PINFL must be 14 digits."),
    "pinfl.century": N_("The first digit of the PINFL is not valid."),
    "pinfl.birth_date": N_("The PINFL contains an impossible birth date."),
    "pinfl.check_digit": N_("The check digit of the PINFL is wrong."),
    "person.not_found": N_("No person with this PINFL is registered."),
    "household.not_found": N_("No such household is registered."),
    "application.not_found": N_("No application with this number."),
    "application.duplicate_month": N_("This family has already applied this month."),
    "application.already_enrolled": N_("This family already receives the benefit."),
    "application.awaiting_data": N_("The application is still waiting for agency data."),
    "application.stale": N_("Someone else changed this record; reload it and try again."),
    "grievance.stale": N_("Someone else changed this record; reload it and try again."),
    "grievance.not_found": N_("No grievance with this number."),
    "grievance.anonymous": N_("Anonymous appeals are not considered: give a phone number or a household."),
    "grievance.transition": N_("This action is not allowed in the grievance's current state."),
    "grievance.no_extension_reason": N_("An extension needs a reason."),
    "grievance.already_extended": N_("The deadline has already been extended once."),
    "payroll.not_found": N_("No payroll for this month."),
    "broadcast.not_found": N_("No broadcast with this number."),
    "broadcast.stale": N_("Someone else changed this record; reload it and try again."),
    "broadcast.unknown_area": N_("No such region, district or mahalla."),
    "broadcast.missing_text": N_("A broadcast needs its text in Uzbek, Karakalpak and Russian."),
    # Translators: params name the language, the parts it would take and the limit (core.broadcasts.MAX_SEGMENTS).
    "broadcast.text_too_long": N_("The text is too long: sent by SMS it would take more than three parts."),
    "broadcast.channels": N_("Choose Telegram, SMS or both."),
    "broadcast.nobody_reachable": N_("Nobody in this area can be reached on the chosen channels: nothing was sent."),
    "broadcast.transition": N_("This broadcast has already been cancelled."),
    "request.malformed_json": N_("The request body is not valid JSON."),
    "request.duplicate_key": N_("The request body gives the same field twice."),
    "request.too_large": N_("The request body is too large."),
    "request.media_type": N_("The request body must be JSON (application/json)."),
    "auth.missing_key": N_("An API key is required."),
    "auth.invalid_key": N_("The API key is unknown, revoked or expired."),
    "auth.role": N_("Your role does not allow this request."),
    "rate.limited": N_("Too many requests; try again later."),
    "precondition.failed": N_("Someone else changed this record; reload it and try again."),
    "precondition.required": N_("This change needs an If-Match header with the current ETag."),
    "idempotency.key_reused": N_("This Idempotency-Key was already used for a different request."),
    "cursor.invalid": N_("The page cursor is not valid."),
    "route.not_found": N_("There is no such resource."),
    "route.method": N_("This method is not allowed on this resource."),
    "client.exists": N_("An API client with this name already exists."),
    "client.not_found": N_("No API client with this name."),
    "client.not_agency": N_("An agency's API client is named after its agency in the data exchange catalogue."),
    "client.inactive": N_("This API client is revoked or expired: add it again to give it a new key."),
    "client.keep_old": N_("The old key can be kept for at most {limit} hours."),
    "server.error": N_("Internal error. The request was not carried out."),
    "server.busy": N_("The registry is busy. The request was not carried out; send it again in a few seconds."),
    "payroll.month": N_("A month is written as YYYY-MM, for example 2026-12."),
    "territory.unknown_region": N_("No such region."),
    "territory.unknown_district": N_("No such district or city."),
    "exchange.batch_too_large": N_("The batch holds more records than allowed."),
    "exchange.agency_not_yours": N_("This client may send records only for its own agency."),
    "idempotency.key_format": N_("An Idempotency-Key is 1 to 120 printable ASCII characters."),
    # Each refusal of an agency record, alone or in a batch: the sender fixes it from the title.
    "exchange.not_an_object": N_("Each record must be a JSON object."),
    "exchange.missing_field": N_("A required field of the record is missing or empty."),
    "exchange.unknown_agency": N_("No such agency in the data exchange catalogue."),
    "exchange.unknown_item": N_("No such data item in the data exchange catalogue."),
    "exchange.item_of_other_agency": N_("This data item belongs to another agency."),
    "exchange.bad_pinfl": N_("The PINFL of the record is not valid."),
    "exchange.unknown_pinfl": N_("No person with this PINFL is registered."),
    "exchange.wrong_type": N_("The value is not of the type the catalogue gives for this item."),
    "exchange.wrong_unit": N_("The unit is not the one the catalogue gives for this item."),
    "exchange.bad_value": N_("The value is outside what this item allows."),
    "exchange.empty_value": N_("The value is empty."),
    "exchange.bad_key": N_("The key of the record does not fit this item."),
    "exchange.key_required": N_("This item needs a key (a month, an account, a number)."),
    "exchange.key_not_expected": N_("This item takes no key."),
    "exchange.bad_as_of": N_("The as-of date must be a date written YYYY-MM-DD."),
    "exchange.future_as_of": N_("The as-of date is later than today."),
    "exchange.early_as_of": N_("The as-of date is earlier than 1900."),
    "exchange.bad_record_id": N_("The record id is too long or holds control characters."),
    "exchange.duplicate_in_batch": N_("The batch gives the same record id twice with different contents."),
    "exchange.record_id_reused": N_("This record id was already used for a different record."),
    "exchange.duplicate_field": N_("The value names the same field twice."),
    "exchange.total_too_large": N_("The household's total would pass the largest sum the registry holds."),
    "exchange.born_after_as_of": N_("The birth date is later than the record's as-of date."),
    "exchange.unknown_parent": N_(
        "Neither parent named in the birth record is registered, so the child cannot be added to a family."),
    "exchange.parent_dead": N_("Every registered parent named in the birth record had died before the birth."),
    "exchange.birth_mismatch": N_("The birth date or sex in the record differs from what the child's PINFL says."),
    "exchange.unknown_head": N_("No person with the PINFL given as the head of the household is registered."),
    "exchange.head_dead": N_("The person given as the head of the household had died by the record's as-of date."),
    # Refusals only a batch file gives (`spsr exchange import` words them in the operator's language).
    "exchange.malformed_line": N_("The line cannot be read as a record."),
    "exchange.truncated_line": N_("The last line has no newline at its end: the file may be cut off."),
    "exchange.not_utf8": N_("The line is not UTF-8 text."),
    "exchange.catalogue": N_("The data exchange catalogue describes this item wrongly."),
}


def status_of(error: DomainError) -> int:
    if isinstance(error, ApiError):
        return error.status
    return STATUS_BY_CODE.get(error.code) or STATUS_BY_KIND.get(error.kind, 400)


def title_of(code: str, kind: str) -> str:
    message = TITLES.get(code)
    if message is None:
        message = next((t for p, t in TITLE_BY_PREFIX.items() if code.startswith(p)), None)
    if message is None and "{" not in (worded := ERRORS.get(code, "{")):
        message = worded  # the citizen's wording of a core refusal, when it names no particulars
    if message is None:
        message = TITLE_BY_KIND.get(kind, N_("The request is not valid."))
    return _(message)


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def problem(status: int, code: str, kind: str, instance: str, params: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> web.Response:
    body = {
        "type": PROBLEM_BASE + code,
        "title": title_of(code, kind),
        "status": status,
        "code": code,
        "instance": instance,
    }
    if params:
        body["params"] = _jsonable(params)
    return web.Response(status=status, text=json.dumps(body, ensure_ascii=False),
                        content_type=PROBLEM_JSON, headers=headers)


def from_domain(error: DomainError, request: web.Request) -> web.Response:
    headers = error.headers if isinstance(error, ApiError) else None
    return problem(status_of(error), error.code, error.kind, request.path, error.params, headers)


# How long a caller waits before sending again a request the database was too busy to take.
BUSY_RETRY_SECONDS = 5
# PostgreSQL's answers that mean "another transaction was in the way; the same request may pass now":
# serialization failure, deadlock, lock not available.
_BUSY_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def is_busy(exc: BaseException) -> bool:
    """The database turned the request away for others' work, not for anything in the request: SQLite's
    write lock still held past the busy timeout, no pooled connection free in time, a lock conflict."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    return ("database is locked" in str(orig)
            or (getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)) in _BUSY_SQLSTATES)


def busy(request: web.Request) -> web.Response:
    """503 with Retry-After: the transaction rolled back, so nothing of the request was applied."""
    return problem(503, "server.busy", "api", request.path, headers={"Retry-After": str(BUSY_RETRY_SECONDS)})


_HTTP_CODES = {404: "route.not_found", 405: "route.method", 413: "request.too_large", 415: "request.media_type"}


def from_http(exc: web.HTTPException, request: web.Request) -> web.Response:
    code = _HTTP_CODES.get(exc.status, "request.invalid")
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    return problem(exc.status, code, "api", request.path, headers=headers)
