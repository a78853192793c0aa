"""Operators' broadcasts to a region, district or mahalla: queue, list, read with live counts, cancel."""

from __future__ import annotations

from typing import Any

from core import broadcasts as rules
from core.errors import InvalidInput
from core.services import broadcasts as broadcasts_service
from core.services.broadcasts import BroadcastView, SendBroadcast
from registry_api.http import Call, Op, Param, Result, decode_cursor, page
from registry_api.schema import DATETIME, NULLABLE_INT, component, iso_datetime, obj, page_of

_TEXT = {"type": "string", "minLength": 1, "maxLength": rules.MAX_TEXT, "pattern": r"\S",
         "description": f"at most {rules.MAX_SEGMENTS} SMS parts as sent (GSM-7 where it can, else UCS-2)"}
_CHANNELS = {"type": "array", "minItems": 1, "maxItems": 2, "items": {"enum": list(rules.CHANNELS)}}
_COUNTS = obj({s: {"type": "integer"} for s in rules.ROW_STATES}, rules.ROW_STATES)
AREA = obj({"kind": {"enum": list(rules.AREA_KINDS)},
            "code": {"type": "string", "minLength": 1, "maxLength": 10, "pattern": "^[0-9]+$",
                     "description": "region SOATO (4 digits), district SOATO (7) or mahalla id"}},
           ("kind", "code"))
TEXTS = obj({lang: _TEXT for lang in rules.LANGUAGES}, rules.LANGUAGES)
NEW_BROADCAST = component("NewBroadcast", obj({
    "area": AREA, "texts": TEXTS, "channels": _CHANNELS, "emergency": {"type": "boolean"},
}, ("area", "texts")))
BROADCAST = component("Broadcast", obj({
    "id": {"type": "integer"}, "area": AREA, "texts": obj({lang: {"type": "string"} for lang in rules.LANGUAGES}),
    "channels": {"type": "array", "items": {"enum": list(rules.CHANNELS)}}, "emergency": {"type": "boolean"},
    "priority": {"type": "integer"}, "state": {"enum": list(rules.STATES)}, "version": {"type": "integer"},
    "created_by": {"type": "string"}, "created_at": DATETIME,
    "cancelled_by": {"type": ["string", "null"]}, "cancelled_at": {"type": ["string", "null"], "format": "date-time"},
    "households": {"type": "integer", "description": "households of the area when it was queued"},
    "queued": obj({c: {"type": "integer"} for c in rules.CHANNELS}, rules.CHANNELS,
                  description="rows queued per channel when it was queued"),
    "withdrawn": NULLABLE_INT,
    "rows": {"oneOf": [{"type": "null"}, obj({c: _COUNTS for c in rules.CHANNELS}, rules.CHANNELS)],
             "description": "each channel's rows by state now (on a single read; null in a list)"},
}, ("id", "area", "state", "version", "households", "queued")))
ID_PARAM = Param("broadcast_id", {"type": "integer"}, True)


def broadcast_json(v: BroadcastView) -> dict[str, Any]:
    return {"id": v.id, "area": {"kind": v.area_kind, "code": v.area_code}, "texts": v.texts,
            "channels": list(v.channels), "emergency": v.emergency, "priority": v.priority, "state": v.state,
            "version": v.version, "created_by": v.created_by, "created_at": iso_datetime(v.created_at),
            "cancelled_by": v.cancelled_by,
            "cancelled_at": iso_datetime(v.cancelled_at) if v.cancelled_at else None,
            "households": v.households, "queued": v.queued, "withdrawn": v.withdrawn, "rows": v.rows}


def _id(call: Call) -> int:
    raw = call.path("broadcast_id")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise InvalidInput("path.broadcast_id", value=raw[:20])
    return int(raw)


async def create_broadcast(call: Call) -> Result:
    """Queue a notice to every reachable household of an area, each in its own language."""
    b = call.body
    cmd = SendBroadcast(area_kind=b["area"]["kind"], area_code=b["area"]["code"], texts=dict(b["texts"]),
                        channels=tuple(b.get("channels") or rules.CHANNELS), emergency=b.get("emergency", False))
    view = await broadcasts_service.send_broadcast(call.uow, cmd, call.actor)
    return Result(broadcast_json(view), 201, view.version, {"Location": f"/v1/broadcasts/{view.id}"})


async def list_broadcasts(call: Call) -> Result:
    """Broadcasts, newest first."""
    before = decode_cursor(call.query["cursor"])
    views = await broadcasts_service.list_broadcasts(call.uow, before, call.query["limit"] + 1)
    return page(call, views, lambda v: v.id, broadcast_json)


async def get_broadcast(call: Call) -> Result:
    view = await broadcasts_service.find_broadcast(call.uow, _id(call))
    return Result(broadcast_json(view), version=view.version)


async def cancel_broadcast(call: Call) -> Result:
    """Withdraw what is not yet sent; what went out stays."""
    view = await broadcasts_service.cancel_broadcast(call.uow, _id(call), call.actor, call.expected_version)
    return Result(broadcast_json(view), version=view.version)


OPS = (
    Op("POST", "/broadcasts", create_broadcast, "broadcasts.write", "Broadcast a notice to an area", "broadcasts",
       BROADCAST, 201, body=NEW_BROADCAST),
    Op("GET", "/broadcasts", list_broadcasts, "broadcasts.read", "List broadcasts", "broadcasts",
       page_of("Broadcast"), paginated=True),
    Op("GET", "/broadcasts/{broadcast_id}", get_broadcast, "broadcasts.read", "Read a broadcast with its counts now",
       "broadcasts", BROADCAST, path_params=(ID_PARAM,)),
    Op("POST", "/broadcasts/{broadcast_id}/cancel", cancel_broadcast, "broadcasts.write",
       "Cancel a broadcast: withdraw what is not yet sent", "broadcasts", BROADCAST, path_params=(ID_PARAM,),
       if_match=True),
)
