"""Applications, eligibility decisions and grievances: create, read, decide, and the grievance
steps under the Law on appeals. State changes carry If-Match with the resource's version."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from core import grievances as grievance_rules
from core.errors import Conflict, InvalidInput, NotFound, check_version
from core.grievances import parse_tracking_number
from core.rates import RateBook
from core.services import applications as applications_service
from core.services import grievances as grievances_service
from core.services.applications import ApplicationView, SubmitApplication
from core.services.decisions import decision_document, provenance_of, trigger_of
from core.services.grievances import GrievanceView, RaiseGrievance
from core.storage.schema import Application, Decision, Grievance, Household, Person
from registry_api.http import Call, Op, Param, Result, decode_cursor, page
from registry_api.registry import HOUSEHOLD_PARAM, audit_reads, household_id_of
from registry_api.schema import (
    DATE,
    DATETIME,
    MONEY,
    MONTH,
    NULLABLE_DATE,
    NULLABLE_INT,
    NULLABLE_STR,
    PINFL,
    TRACKING,
    component,
    iso_datetime,
    obj,
    page_of,
)

LANGUAGE = {"enum": ["uz", "kaa", "ru"]}
DECISION_BODY = obj({
    "on": DATE, "eligible": {"type": "boolean"}, "category": NULLABLE_STR, "programme": {"type": "string"},
    "share_percent": {"type": "integer"}, "monthly_amount": MONEY, "duration_months": {"type": "integer"},
    "mce": MONEY, "income_total": MONEY, "months_counted": {"type": "integer"}, "members": {"type": "integer"},
    "income_per_member": MONEY,
    "reasons": {"type": "array", "items": obj({"code": {"type": "string"}, "params": {"type": "object"}},
                                               ("code", "params"))},
    "inputs": {"type": "object"},
}, ("eligible", "programme", "reasons", "inputs"))
component("Decision", obj({"id": {"type": "integer"}, "household_id": {"type": "integer"},
                           "application_number": NULLABLE_STR, "decided_on": DATE, "created_at": DATETIME,
                           "trigger": {"enum": ["application", "assessment"]}, "decision": DECISION_BODY,
                           "provenance": {"type": "object", "description": (
                               "For each agency value the decision rested on (key '<pinfl>:<item>'): "
                               "agency, record_id, as_of, received_at")}},
                          ("id", "household_id", "decision")))
APPLICATION = component("Application", obj({
    "number": TRACKING, "household_id": {"type": "integer"}, "programme": {"type": "string"},
    "state": {"type": "string"}, "submitted_on": DATE, "decision_month": MONTH, "notice_by": DATE,
    "first_month": {"type": ["string", "null"]}, "last_month": {"type": ["string", "null"]},
    "version": {"type": "integer"}, "decision": {"oneOf": [{"type": "null"}, DECISION_BODY]},
}, ("number", "household_id", "state", "version")))
NEW_APPLICATION = component("NewApplication", obj({
    "pinfl": PINFL, "language": LANGUAGE,
    "declared_changes": {"type": "array", "maxItems": 6, "items": {"enum": list(applications_service.DECLARED_CHANGES)}},
    "note": {"type": "string", "maxLength": 1000},
}, ("pinfl",)))
GRIEVANCE = component("Grievance", obj({
    "number": TRACKING, "category": {"type": "string"}, "channel": {"type": "string"},
    "language": {"type": "string"}, "state": {"type": "string"}, "text": {"type": "string"},
    "received_on": DATE, "due_on": DATE, "overdue": {"type": "boolean"}, "extended": {"type": "boolean"},
    "escalation_level": {"type": "integer"}, "assigned_to": NULLABLE_STR, "answer": NULLABLE_STR,
    "answered_on": NULLABLE_DATE, "household_id": NULLABLE_INT, "region_soato": NULLABLE_STR,
    "appeal_of": NULLABLE_STR, "version": {"type": "integer"},
}, ("number", "category", "state", "due_on", "overdue", "version")))
NEW_GRIEVANCE = component("NewGrievance", obj({
    "category": {"enum": list(grievance_rules.CATEGORIES)},
    "text": {"type": "string", "minLength": 1, "maxLength": grievances_service.MAX_TEXT},
    "language": LANGUAGE, "phone": {"type": "string", "maxLength": 30},
    "household_id": {"type": "integer", "minimum": 1, "maximum": 2**53},
    "needs_check": {"type": "boolean"}, "appeal_of": {"type": "string", "maxLength": 20},
}, ("category", "text")))
# "\S": a name of spaces alone would leave the grievance assigned to nobody anyone can find.
ASSIGN = obj({"staff": {"type": "string", "minLength": 1, "maxLength": 80, "pattern": r"\S"}}, ("staff",))
REPLY = obj({"text": {"type": "string", "minLength": 1, "maxLength": 4000}}, ("text",))
REASON = obj({"reason": {"type": "string", "maxLength": 1000}})
EXTEND = obj({"days": {"type": "integer", "minimum": 1, "maximum": 31},
              "reason": {"type": "string", "minLength": 1, "maxLength": 1000}}, ("days", "reason"))

NUMBER_PARAM = Param("number", {"type": "string", "maxLength": 20}, True, "tracking number")


def _month(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()[:7]


def application_json(v: ApplicationView) -> dict[str, Any]:
    return {"number": v.number, "household_id": v.household_id, "programme": v.programme, "state": v.state,
            "submitted_on": v.submitted_on.isoformat(), "decision_month": _month(v.decision_month),
            "notice_by": v.notice_by.isoformat(), "first_month": _month(v.first_month),
            "last_month": _month(v.last_month), "version": v.version,
            "decision": v.decision.to_dict() if v.decision else None}


def grievance_json(v: GrievanceView) -> dict[str, Any]:
    return {"number": v.number, "category": v.category, "channel": v.channel, "language": v.language,
            "state": v.state, "text": v.text, "received_on": v.received_on.isoformat(),
            "due_on": v.due_on.isoformat(), "overdue": v.overdue, "extended": v.extended,
            "escalation_level": v.escalation_level, "assigned_to": v.assigned_to, "answer": v.answer,
            "answered_on": v.answered_on.isoformat() if v.answered_on else None,
            "household_id": v.household_id, "region_soato": v.region_soato, "appeal_of": v.appeal_of,
            "version": v.version}


def _named_members(document: dict[str, Any]) -> list[Any]:
    members = (document.get("inputs") or {}).get("members")
    return members if isinstance(members, list) else []


async def audit_members(call: Call, decisions: list[dict[str, Any] | None]) -> None:
    """Put on record a read of everyone these decision documents name: an application's carries
    each member's PINFL, birth date, disability and service body, which is reading that person's
    data. A bulk assessment's names nobody: its ``inputs.members`` is the household's count."""
    pinfls = {m["pinfl"] for d in decisions if d for m in _named_members(d)
              if isinstance(m, dict) and isinstance(m.get("pinfl"), str)}
    if pinfls:
        audit_reads(call, (await call.uow.session.scalars(
            select(Person).where(Person.pinfl.in_(sorted(pinfls))).order_by(Person.id))).all())


# --- applications --------------------------------------------------------------------------------


async def create_application(call: Call) -> Result:
    """Apply on behalf of a citizen."""
    b = call.body
    cmd = SubmitApplication(pinfl=b["pinfl"], channel="api", language=b.get("language", "uz"),
                            declared_changes=tuple(b.get("declared_changes") or ("nothing",)),
                            note=b.get("note"), idempotency_key=call.scoped_key())
    uow = call.uow
    view = await applications_service.submit_application(uow, cmd, call.actor)
    return Result(application_json(view), 201, view.version,
                  {"Location": f"/v1/applications/{view.number}"})


def _application_number(call: Call) -> str:
    """The path's application number. The tracking-number parser is shared with grievances and
    refuses with ``grievance.*`` codes, which would name the wrong resource here."""
    raw = call.path("number")
    try:
        return parse_tracking_number(raw).digits
    except InvalidInput:
        raise InvalidInput("path.number", value=raw[:20]) from None


async def get_application(call: Call) -> Result:
    uow = call.uow
    view = await applications_service.find_application(uow, _application_number(call))
    body = application_json(view)
    await audit_members(call, [body["decision"]])
    return Result(body, version=view.version)


async def decide_application(call: Call) -> Result:
    """Verify the application against agency data and decide it now, with the reasons."""
    number = _application_number(call)
    uow = call.uow
    app = await uow.session.scalar(select(Application).where(Application.number == number).with_for_update())
    if app is None:
        raise NotFound("application.not_found", number=number)
    check_version("application.stale", app.version, call.expected_version)
    if app.verified_at is None and not await applications_service.verify_application(uow, app, call.actor):
        raise Conflict("application.awaiting_data", number=number)
    await applications_service.decide_application(uow, app, call.actor)
    await uow.session.flush()
    view = await applications_service.find_application(uow, number)
    body = application_json(view)
    await audit_members(call, [body["decision"]])
    return Result(body, version=view.version)


def _decision_json(d: Decision, number: str | None, provenance: dict[str, Any], book: RateBook) -> dict[str, Any]:
    return {"id": d.id, "household_id": d.household_id, "application_number": number,
            "decided_on": d.decided_on.isoformat(), "created_at": iso_datetime(d.created_at),
            "trigger": trigger_of(d), "decision": decision_document(d, book), "provenance": provenance}


async def list_decisions(call: Call) -> Result:
    """A household's eligibility decisions with every input, newest first."""
    hid = household_id_of(call)
    before = decode_cursor(call.query["cursor"])
    uow = call.uow
    if await uow.session.get(Household, hid) is None:
        raise NotFound("household.not_found", household_id=hid)
    stmt = (select(Decision, Application.number).outerjoin(Application, Application.id == Decision.application_id)
            .where(Decision.household_id == hid))
    if before is not None:
        stmt = stmt.where(Decision.id < before)
    rows = list((await uow.session.execute(stmt.order_by(Decision.id.desc()).limit(call.query["limit"] + 1))).all())
    provenance = await provenance_of(uow, [r[0] for r in rows])
    result = page(call, rows, lambda r: r[0].id, lambda r: _decision_json(r[0], r[1], provenance[r[0].id], uow.book))
    await audit_members(call, [item["decision"] for item in result.body["items"]])
    return result


# --- grievances ----------------------------------------------------------------------------------


async def create_grievance(call: Call) -> Result:
    """Register a citizen's grievance taken by the hotline."""
    b = call.body
    cmd = RaiseGrievance(category=b["category"], text=b["text"], channel="hotline",
                         language=b.get("language", "uz"), phone=b.get("phone"),
                         household_id=b.get("household_id"), needs_check=b.get("needs_check", False),
                         appeal_of=b.get("appeal_of"), idempotency_key=call.scoped_key())
    uow = call.uow
    view = await grievances_service.raise_grievance(uow, cmd, call.actor)
    return Result(grievance_json(view), 201, view.version, {"Location": f"/v1/grievances/{view.number}"})


async def get_grievance(call: Call) -> Result:
    uow = call.uow
    view = await grievances_service.find_grievance(uow, call.path("number"))
    return Result(grievance_json(view), version=view.version)


async def list_grievances(call: Call) -> Result:
    """Grievances filtered by state, category, region, due date and overdue, oldest first."""
    q = call.query
    after = decode_cursor(q["cursor"])
    uow = call.uow
    today = uow.today()
    stmt = select(Grievance)
    if q["state"]:
        stmt = stmt.where(Grievance.state == q["state"])
    if q["category"]:
        stmt = stmt.where(Grievance.category == q["category"])
    if q["region"]:
        stmt = stmt.where(Grievance.region_soato == q["region"])
    if q["due_before"]:
        stmt = stmt.where(Grievance.due_on <= dt.date.fromisoformat(q["due_before"]))
    open_states = (grievance_rules.ANSWERED, grievance_rules.CLOSED)
    if q["overdue"] is True:
        stmt = stmt.where(Grievance.state.not_in(open_states), Grievance.due_on < today)
    elif q["overdue"] is False:
        stmt = stmt.where((Grievance.state.in_(open_states)) | (Grievance.due_on >= today))
    if after is not None:
        stmt = stmt.where(Grievance.id > after)
    rows = list((await uow.session.scalars(stmt.order_by(Grievance.id).limit(q["limit"] + 1))).all())
    views = {g.id: grievance_json(await grievances_service._view(uow, g)) for g in rows}
    return page(call, rows, lambda g: g.id, lambda g: views[g.id])


def _step(name: str, run: Any, doc: str) -> Any:
    async def handler(call: Call) -> Result:
        uow = call.uow
        view = await run(uow, call)
        return Result(grievance_json(view), version=view.version)

    handler.__name__ = name
    handler.__doc__ = doc
    return handler


def _number(call: Call) -> str:
    return call.path("number")


assign_grievance = _step("assign_grievance", lambda uow, c: grievances_service.assign(
    uow, _number(c), c.body["staff"], c.actor, expected_version=c.expected_version), "Assign to a staff member.")
reply_grievance = _step("reply_grievance", lambda uow, c: grievances_service.answer(
    uow, _number(c), c.body["text"], c.actor, expected_version=c.expected_version),
    "Answer the citizen on their own channel.")
escalate_grievance = _step("escalate_grievance", lambda uow, c: grievances_service.escalate(
    uow, _number(c), c.actor, c.body.get("reason", ""), expected_version=c.expected_version),
    "Escalate to a higher body.")
extend_grievance = _step("extend_grievance", lambda uow, c: grievances_service.extend(
    uow, _number(c), c.body["days"], c.body["reason"], c.actor, expected_version=c.expected_version),
    "Extend the deadline once, with a reason the citizen is told.")
close_grievance = _step("close_grievance", lambda uow, c: grievances_service.close(
    uow, _number(c), c.actor, expected_version=c.expected_version), "Close an answered grievance.")
reopen_grievance = _step("reopen_grievance", lambda uow, c: grievances_service.reopen(
    uow, _number(c), c.actor, c.body.get("reason", ""), expected_version=c.expected_version),
    "Reopen an answered or closed grievance.")


GRIEVANCE_FILTERS = (
    Param("state", {"enum": list(grievance_rules.STATES)}),
    Param("category", {"enum": list(grievance_rules.CATEGORIES)}),
    Param("region", {"type": "string", "pattern": "^[0-9]{4}$"}, description="region SOATO code"),
    Param("due_before", DATE, description="due on or before this date"),
    Param("overdue", {"type": "boolean"}),
)


def _grievance_step(path: str, handler: Any, body: Any, summary: str) -> Op:
    return Op("POST", f"/grievances/{{number}}/{path}", handler, "grievances.write", summary, "grievances",
              GRIEVANCE, body=body, path_params=(NUMBER_PARAM,), if_match=True)


OPS = (
    Op("POST", "/applications", create_application, "applications.write", "Apply on behalf of a citizen",
       "applications", APPLICATION, 201, body=NEW_APPLICATION),
    Op("GET", "/applications/{number}", get_application, "applications.read", "Read an application",
       "applications", APPLICATION, path_params=(NUMBER_PARAM,)),
    Op("POST", "/applications/{number}/decision", decide_application, "applications.decide",
       "Decide an application now", "applications", APPLICATION, path_params=(NUMBER_PARAM,), if_match=True),
    Op("GET", "/households/{household_id}/decisions", list_decisions, "registry.read",
       "A household's eligibility decisions with their inputs", "applications", page_of("Decision"),
       path_params=(HOUSEHOLD_PARAM,), paginated=True),
    Op("POST", "/grievances", create_grievance, "grievances.write", "Register a grievance", "grievances",
       GRIEVANCE, 201, body=NEW_GRIEVANCE),
    Op("GET", "/grievances", list_grievances, "grievances.read", "List grievances", "grievances",
       page_of("Grievance"), query=GRIEVANCE_FILTERS, paginated=True),
    Op("GET", "/grievances/{number}", get_grievance, "grievances.read", "Read a grievance", "grievances",
       GRIEVANCE, path_params=(NUMBER_PARAM,)),
    _grievance_step("assign", assign_grievance, ASSIGN, "Assign a grievance"),
    _grievance_step("reply", reply_grievance, REPLY, "Answer a grievance"),
    _grievance_step("escalate", escalate_grievance, REASON, "Escalate a grievance"),
    _grievance_step("extend", extend_grievance, EXTEND, "Extend a grievance's deadline"),
    _grievance_step("close", close_grievance, None, "Close a grievance"),
    _grievance_step("reopen", reopen_grievance, REASON, "Reopen a grievance"),
)
