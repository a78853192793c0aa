"""Statistics for operators, the audit log for auditors, API clients for admins."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select

from core import grievances as grievance_rules
from core.storage.schema import AuditEntry, Enrolment, Grievance, Household, PayrollLine, Person
from registry_api import clients as clients_service
from registry_api.http import KEY_CACHE, Call, Op, Param, Result, decode_cursor, page
from registry_api.schema import (
    DATETIME,
    MONEY,
    MONTH,
    NULLABLE_STR,
    Properties,
    component,
    iso_datetime,
    obj,
    page_of,
)


def _rows(**props: Any) -> dict[str, Any]:
    return {"type": "array", "items": obj(props, tuple(props))}


STATISTICS = component("Statistics", obj({
    "as_of": {"type": "string", "format": "date"},
    "families": _rows(region_soato={"type": "string"}, programme={"type": "string"},
                      families={"type": "integer"}, persons={"type": "integer"}),
    "payments": _rows(month=MONTH, lines={"type": "integer"}, amount=MONEY, paid={"type": "integer"},
                      failed={"type": "integer"}),
    "grievances": _rows(category={"type": "string"}, state={"type": "string"}, count={"type": "integer"}),
    "overdue": _rows(region_soato=NULLABLE_STR, count={"type": "integer"}),
}, ("as_of", "families", "payments", "grievances", "overdue")))
component("AuditEntry", obj({
    "id": {"type": "integer"}, "at": DATETIME, "actor_kind": {"type": "string"}, "actor_id": {"type": "string"},
    "channel": {"type": "string"}, "action": {"type": "string"}, "entity": {"type": "string"},
    "entity_id": {"type": "string"}, "details": {"type": "object"}}, ("id", "at", "action")))
CLIENT_PROPS: Properties = {
    "name": {"type": "string"}, "role": {"enum": list(clients_service.ROLES)}, "key_prefix": {"type": "string"},
    "created_at": DATETIME, "expires_at": {"type": ["string", "null"]}, "revoked_at": {"type": ["string", "null"]},
    "rate_per_minute": {"type": "integer"}, "active": {"type": "boolean"},
    "previous_key_until": {"type": ["string", "null"], "description": "until when the key the latest rotation "
                           "replaced is still taken (null: it stopped at the rotation)"},
}
CLIENT = component("Client", obj(CLIENT_PROPS, ("name", "role", "active")))
NEW_CLIENT_KEY = component("NewClient", obj({**CLIENT_PROPS, "key": {
    "type": ["string", "null"],
    "description": "the client's API key, in this answer only: it is stored hashed, so a replay under the "
                   "same Idempotency-Key answers null (rotate the key, or revoke the client and add it again, "
                   "if it was lost)"}},
                                            ("name", "role", "key")))
ROTATION = obj({"keep_old_hours": {"type": "integer", "minimum": 0, "maximum": clients_service.MAX_KEEP_OLD_HOURS},
                "expires_days": {"type": "integer", "minimum": 1, "maximum": clients_service.MAX_EXPIRES_DAYS}}, ())
NEW_CLIENT = obj({"name": {"type": "string", "minLength": 1, "maxLength": clients_service.MAX_NAME,
                           "pattern": "^[A-Za-z0-9._-]+$"},
                  "role": {"enum": list(clients_service.ROLES)},
                  "expires_days": {"type": "integer", "minimum": 1, "maximum": clients_service.MAX_EXPIRES_DAYS},
                  "rate_per_minute": {"type": "integer", "minimum": 1,
                                      "maximum": clients_service.MAX_RATE_PER_MINUTE}}, ("name", "role"))


async def statistics(call: Call) -> Result:
    """Families and persons by region and programme, payments by month, grievances by category and
    state, overdue grievances by region."""
    uow = call.uow
    s = uow.session
    today = uow.today()
    this_month = today.replace(day=1)
    persons = select(Person.household_id, func.count().label("n")).group_by(Person.household_id).subquery()
    families = (await s.execute(
        select(Household.region_soato, Enrolment.programme, func.count(func.distinct(Enrolment.household_id)),
               func.coalesce(func.sum(persons.c.n), 0))
        .join(Household, Household.id == Enrolment.household_id)
        .join(persons, persons.c.household_id == Enrolment.household_id)
        .where(Enrolment.state == "active", Enrolment.first_month <= this_month,
               Enrolment.last_month >= this_month)
        .group_by(Household.region_soato, Enrolment.programme)
        .order_by(Household.region_soato, Enrolment.programme))).all()
    payments = (await s.execute(
        select(PayrollLine.cycle_month, func.count(), func.coalesce(func.sum(PayrollLine.amount), 0),
               func.sum(case((PayrollLine.status == "paid", 1), else_=0)),
               func.sum(case((PayrollLine.status == "failed", 1), else_=0)))
        .group_by(PayrollLine.cycle_month).order_by(PayrollLine.cycle_month.desc()).limit(24))).all()
    grievances = (await s.execute(
        select(Grievance.category, Grievance.state, func.count())
        .group_by(Grievance.category, Grievance.state).order_by(Grievance.category, Grievance.state))).all()
    overdue = (await s.execute(
        select(Grievance.region_soato, func.count())
        .where(Grievance.state.not_in((grievance_rules.ANSWERED, grievance_rules.CLOSED)),
               Grievance.due_on < today)
        .group_by(Grievance.region_soato).order_by(Grievance.region_soato))).all()
    return Result({
        "as_of": today.isoformat(),
        "families": [{"region_soato": r, "programme": p, "families": int(f), "persons": int(n)}
                     for r, p, f, n in families],
        "payments": [{"month": m.isoformat()[:7], "lines": int(c), "amount": int(a), "paid": int(pd or 0),
                      "failed": int(fl or 0)} for m, c, a, pd, fl in payments],
        "grievances": [{"category": c, "state": st, "count": int(n)} for c, st, n in grievances],
        "overdue": [{"region_soato": r, "count": int(n)} for r, n in overdue],
    })


async def audit_log(call: Call) -> Result:
    """The audit log, newest first, filtered by entity and actor."""
    q = call.query
    before = decode_cursor(q["cursor"])
    uow = call.uow
    stmt = select(AuditEntry)
    if q["entity"]:
        stmt = stmt.where(AuditEntry.entity == q["entity"])
    if q["actor"]:
        stmt = stmt.where(AuditEntry.actor_id == q["actor"])
    if before is not None:
        stmt = stmt.where(AuditEntry.id < before)
    rows = list((await uow.session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(q["limit"] + 1))).all())
    return page(call, rows, lambda r: r.id, lambda r: {
        "id": r.id, "at": iso_datetime(r.at), "actor_kind": r.actor_kind, "actor_id": r.actor_id,
        "channel": r.channel, "action": r.action, "entity": r.entity, "entity_id": r.entity_id,
        "details": r.details or {}})


def _client(c: clients_service.ClientView, now: Any) -> dict[str, Any]:
    return {"name": c.name, "role": c.role, "key_prefix": c.key_prefix, "created_at": c.created_at.isoformat(),
            "expires_at": c.expires_at.isoformat() if c.expires_at else None,
            "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
            "rate_per_minute": c.rate_per_minute, "active": c.active(now),
            "previous_key_until": (c.previous_key_until.isoformat()
                                   if c.previous_key_until is not None and c.previous_key_until > now else None)}


async def list_clients(call: Call) -> Result:
    after = decode_cursor(call.query["cursor"])
    uow = call.uow
    rows = await clients_service.list_clients(uow, after_id=after or 0, limit=call.query["limit"] + 1)
    now = uow.now()
    return page(call, rows, lambda c: c.id, lambda c: _client(c, now))


async def create_client(call: Call) -> Result:
    """Create a client; its key is in this answer and never again."""
    b = call.body
    uow = call.uow
    view, key = await clients_service.add_client(uow, b["name"], b["role"], call.actor,
                                                 expires_days=b.get("expires_days"),
                                                 rate_per_minute=b.get("rate_per_minute", 600))
    now = uow.now()
    return Result({**_client(view, now), "key": key}, 201)


async def rotate_key(call: Call) -> Result:
    """Give an active client a new key, in this answer only; the old one stops here at once, or
    after ``keep_old_hours``."""
    b = call.body
    view, key = await clients_service.rotate_key(call.uow, call.path("name"), call.actor,
                                                 expires_days=b.get("expires_days"),
                                                 keep_old_hours=b.get("keep_old_hours", 0))
    cache = call.request.app[KEY_CACHE]
    call.uow.after_commit(lambda: cache.forget_client(view.id))
    return Result({**_client(view, call.uow.now()), "key": key})


async def revoke_client(call: Call) -> Result:
    """Revoke a client: its key stops here at once, and in other server processes within seconds."""
    view = await clients_service.revoke_client(call.uow, call.path("name"), call.actor)
    cache = call.request.app[KEY_CACHE]
    call.uow.after_commit(lambda: cache.forget_client(view.id))
    return Result(_client(view, call.uow.now()))


OPS = (
    Op("GET", "/statistics", statistics, "statistics.read", "Registry statistics", "statistics", STATISTICS),
    Op("GET", "/audit-log", audit_log, "audit.read", "The audit log", "audit", page_of("AuditEntry"),
       query=(Param("entity", {"type": "string", "maxLength": 20}),
              Param("actor", {"type": "string", "maxLength": 80})), paginated=True),
    Op("GET", "/clients", list_clients, "clients.manage", "List API clients", "clients", page_of("Client"),
       paginated=True),
    Op("POST", "/clients", create_client, "clients.manage", "Create an API client (the key is shown once)",
       "clients", NEW_CLIENT_KEY, 201, body=NEW_CLIENT, secret_fields=("key",),
       description="A revoked or expired client of that name is given a new key, with this role, lifetime "
                   "and rate; an active one is a conflict (rotate its key instead). An agency client is named "
                   "after its agency in the exchange catalogue."),
    Op("POST", "/clients/{name}/rotate", rotate_key, "clients.manage",
       "Give an active client a new key (shown once); the old key stops, at once or after a while", "clients",
       NEW_CLIENT_KEY, body=ROTATION, body_optional=True,
       secret_fields=("key",), path_params=(Param("name", {"type": "string", "maxLength": 80}, True),),
       description="Without a body the old key stops at once, as it must when it leaked. keep_old_hours keeps it "
                   "working that long beside the new one, so the agency can move every system to the new key "
                   "without an outage; a key an earlier rotation kept stops now. expires_days gives the new key "
                   "a lifetime (else the client's expiry stays)."),
    Op("POST", "/clients/{name}/revoke", revoke_client, "clients.manage", "Revoke an API client", "clients",
       CLIENT, path_params=(Param("name", {"type": "string", "maxLength": 80}, True),)),
)
