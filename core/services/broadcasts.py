"""Operators' broadcasts: queue a notice to every reachable household of an area, read, cancel.

Queueing is one ``INSERT … SELECT`` into the outbox (a region may hold 150,000 households: none
is loaded into Python), routed as every notice is (``core.storage.assessment_sql``'s route:
Telegram where linked and not blocked, SMS otherwise, nothing after STOP), restricted to the
channels the operator chose. Each row carries the broadcast's id, not its text: the senders word
it from ``broadcasts`` in the row's language (:class:`BroadcastTexts`). Cancelling withdraws the
rows not yet sent, as an assessment withdraws an ending notice; what went out stays on record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import DateTime, bindparam, func, select, text, update

from core import broadcasts as rules
from core.errors import Conflict, ExpectedVersion, InvalidInput, InvalidTransition, NotFound, check_version
from core.services.outbox import PRIORITY_BULK, PRIORITY_EMERGENCY
from core.storage.assessment_sql import Dialect, contact_join
from core.storage.results import rowcount
from core.storage.schema import Broadcast, District, Mahalla, OutboxMessage, Region
from core.storage.uow import Actor, UnitOfWork

TEMPLATE: Final = "broadcast"
# The households of an area. A district's names its region too: ``ix_households_territory``
# leads with the region, so the district alone would read every household of the country.
_AREA: Final = {"region": "h.region_soato = :code",
                "district": "h.region_soato = :region AND h.district_soato = :code",
                "mahalla": "h.mahalla_id = :code"}


@dataclass(frozen=True)
class SendBroadcast:
    area_kind: str
    area_code: str
    texts: dict[str, str]
    channels: tuple[str, ...] = rules.CHANNELS
    emergency: bool = False


@dataclass(frozen=True)
class BroadcastView:
    id: int
    area_kind: str
    area_code: str
    texts: dict[str, str]
    channels: tuple[str, ...]
    emergency: bool
    priority: int
    state: str
    version: int
    created_by: str
    created_at: dt.datetime
    cancelled_by: str | None
    cancelled_at: dt.datetime | None
    households: int
    queued: dict[str, int]
    withdrawn: int | None
    # Live: each channel's rows by state (only on a single read).
    rows: dict[str, dict[str, int]] | None = field(default=None)


def _view(b: Broadcast, rows: dict[str, dict[str, int]] | None = None) -> BroadcastView:
    return BroadcastView(b.id, b.area_kind, b.area_code, {"uz": b.text_uz, "kaa": b.text_kaa, "ru": b.text_ru},
                         tuple(b.channels.split(",")), b.emergency, b.priority, b.state, b.version, b.created_by,
                         b.created_at, b.cancelled_by, b.cancelled_at, b.households,
                         {"telegram": b.queued_telegram, "sms": b.queued_sms}, b.withdrawn, rows)


def queue_sql(dialect: str, broadcast_id: int, area_kind: str, channels: Sequence[str], priority: int) -> str:
    """The one statement that queues a broadcast: a row per reachable household of the area
    (``:code``), keyed ``broadcast:<id>:<household>`` so that nothing is queued twice."""
    d = Dialect(dialect)
    bid = int(broadcast_id)
    telegram = ("(c.telegram_chat_id IS NOT NULL AND NOT c.telegram_blocked)" if "telegram" in channels
                else "(1 = 0)")
    sms = "NOT COALESCE(pp.sms_stopped, FALSE)" if "sms" in channels else "(1 = 0)"
    params = d.obj(("broadcast_id", str(bid)))
    return f"""
INSERT INTO outbox (created_at, household_id, phone, telegram_chat_id, channel, priority, language, template,
                    params, state, attempts, next_attempt_at, dedupe_key, broadcast_id)
SELECT :now, h.id, c.phone, CASE WHEN {telegram} THEN c.telegram_chat_id END,
       CASE WHEN {telegram} THEN 'telegram' ELSE 'sms' END, {int(priority)}, c.language, '{TEMPLATE}', {params},
       'pending', 0, :now, 'broadcast:{bid}:' || h.id, {bid}
FROM households h {contact_join("h.id")}
WHERE {_AREA[area_kind]} AND ({telegram} OR {sms})
ON CONFLICT (dedupe_key) DO NOTHING
"""


async def _area(uow: UnitOfWork, kind: str, code: str) -> dict[str, Any] | None:
    """The bound parameters of :data:`_AREA` for an area the registry knows; None for one it does not."""
    s = uow.session
    if kind == "region":
        return {"code": code} if await s.get(Region, code) is not None else None
    if kind == "district":
        district = await s.get(District, code)
        return None if district is None else {"code": code, "region": district.region_soato}
    return {"code": int(code)} if await s.get(Mahalla, int(code)) is not None else None


async def _counts(uow: UnitOfWork, broadcast_id: int) -> dict[str, dict[str, int]]:
    """Each channel's rows of the broadcast by state: one GROUP BY over ``ix_outbox_broadcast``."""
    found = (await uow.session.execute(
        select(OutboxMessage.channel, OutboxMessage.state, func.count())
        .where(OutboxMessage.broadcast_id == broadcast_id)
        .group_by(OutboxMessage.channel, OutboxMessage.state))).all()
    out = {c: dict.fromkeys(rules.ROW_STATES, 0) for c in rules.CHANNELS}
    for channel, state, n in found:
        out.setdefault(channel, dict.fromkeys(rules.ROW_STATES, 0))[state] = int(n)
    return out


async def send_broadcast(uow: UnitOfWork, cmd: SendBroadcast, actor: Actor) -> BroadcastView:
    """Queue a broadcast to every reachable household of the area; refused when nobody is reachable."""
    texts = rules.check_texts(cmd.texts)
    channels = rules.check_channels(cmd.channels)
    code = rules.check_area(cmd.area_kind, cmd.area_code)
    area = await _area(uow, cmd.area_kind, code)
    if area is None:
        raise InvalidInput("broadcast.unknown_area", kind=cmd.area_kind, area_code=code)
    priority = PRIORITY_EMERGENCY if cmd.emergency else PRIORITY_BULK
    now = uow.now()
    households = int(await uow.session.scalar(
        text(f"SELECT COUNT(*) FROM households h WHERE {_AREA[cmd.area_kind]}"), area) or 0)
    b = Broadcast(area_kind=cmd.area_kind, area_code=code, text_uz=texts["uz"], text_kaa=texts["kaa"],
                  text_ru=texts["ru"], channels=",".join(channels), emergency=cmd.emergency, priority=priority,
                  state="queued", version=1, households=households, queued_telegram=0, queued_sms=0,
                  created_by=actor.id[:80], created_at=now)
    uow.session.add(b)
    await uow.session.flush()
    dialect = uow.session.get_bind().dialect.name
    # The stamp typed, so that SQLite stores it as every other outbox stamp (no "+00:00"): the
    # senders compare next_attempt_at as text there.
    queue = text(queue_sql(dialect, b.id, cmd.area_kind, channels, priority)).bindparams(
        bindparam("now", type_=DateTime(timezone=True)))
    await uow.session.execute(queue,
                              {"now": now, **area})
    counts = await _counts(uow, b.id)
    b.queued_telegram = sum(counts["telegram"].values())
    b.queued_sms = sum(counts["sms"].values())
    if b.queued_telegram + b.queued_sms == 0:
        # The unit of work rolls back: neither the broadcast nor any row is kept.
        raise Conflict("broadcast.nobody_reachable", kind=cmd.area_kind, area_code=code, households=households)
    uow.audit(actor, "broadcast.queued", "broadcast", b.id, area_kind=b.area_kind, area_code=b.area_code,
              channels=b.channels, emergency=b.emergency, households=households,
              queued_telegram=b.queued_telegram, queued_sms=b.queued_sms)
    return _view(b, counts)


async def _get(uow: UnitOfWork, broadcast_id: int, *, lock: bool = False) -> Broadcast:
    b = await uow.session.get(Broadcast, broadcast_id, with_for_update=lock)
    if b is None:
        raise NotFound("broadcast.not_found", broadcast_id=broadcast_id)
    return b


async def find_broadcast(uow: UnitOfWork, broadcast_id: int) -> BroadcastView:
    """A broadcast with its rows counted by channel and state now."""
    b = await _get(uow, broadcast_id)
    return _view(b, await _counts(uow, b.id))


async def list_broadcasts(uow: UnitOfWork, before: int | None, limit: int) -> list[BroadcastView]:
    """Broadcasts newest first (ids below ``before``), with the counts frozen when each was queued."""
    stmt = select(Broadcast)
    if before is not None:
        stmt = stmt.where(Broadcast.id < before)
    return [_view(b) for b in (await uow.session.scalars(stmt.order_by(Broadcast.id.desc()).limit(limit))).all()]


async def cancel_broadcast(uow: UnitOfWork, broadcast_id: int, actor: Actor,
                           expected_version: ExpectedVersion = None) -> BroadcastView:
    """Withdraw the rows not yet sent; what went out stays as it is."""
    b = await _get(uow, broadcast_id, lock=True)
    check_version("broadcast.stale", b.version, expected_version)
    if b.state != "queued":
        raise InvalidTransition("broadcast.transition", current=b.state, target="cancelled")
    withdrawn = rowcount(await uow.session.execute(
        update(OutboxMessage).where(OutboxMessage.broadcast_id == b.id, OutboxMessage.state == "pending")
        .values(state="withdrawn").execution_options(synchronize_session=False)))
    b.state, b.version = "cancelled", b.version + 1
    b.cancelled_by, b.cancelled_at, b.withdrawn = actor.id[:80], uow.now(), int(withdrawn or 0)
    uow.audit(actor, "broadcast.cancelled", "broadcast", b.id, withdrawn=b.withdrawn)
    await uow.session.flush()
    return _view(b, await _counts(uow, b.id))


async def sms_allowed(uow: UnitOfWork, row: OutboxMessage) -> bool:
    """Whether a row may turn to SMS (its chat blocked the bot): not a broadcast's sent by Telegram only."""
    if row.broadcast_id is None:
        return True
    channels = await uow.session.scalar(select(Broadcast.channels).where(Broadcast.id == row.broadcast_id))
    return channels is None or "sms" in channels.split(",")


class BroadcastTexts:
    """Broadcast texts by id for a sender, read once each: a broadcast's texts never change, and
    a cancelled one's unsent rows are withdrawn, so no claim takes them."""

    def __init__(self, keep: int = 256) -> None:
        self._texts: dict[int, dict[str, str]] = {}
        self._keep = keep

    @staticmethod
    def broadcast_of(row: OutboxMessage) -> int | None:
        if row.template != TEMPLATE:
            return None
        return row.broadcast_id or (row.params or {}).get("broadcast_id")

    async def load(self, uow: UnitOfWork, rows: Iterable[OutboxMessage]) -> None:
        wanted = {b for r in rows if (b := self.broadcast_of(r)) is not None and b not in self._texts}
        if not wanted:
            return
        if len(self._texts) + len(wanted) > self._keep:
            self._texts.clear()
        for found in (await uow.session.scalars(select(Broadcast).where(Broadcast.id.in_(sorted(wanted))))).all():
            self._texts[found.id] = {"uz": found.text_uz, "kaa": found.text_kaa, "ru": found.text_ru}

    def params(self, row: OutboxMessage) -> dict[str, Any]:
        """The row's parameters to word it with (a copy: a broadcast's text is added, never stored)."""
        params = dict(row.params or {})
        b = self.broadcast_of(row)
        if b is not None and b in self._texts:
            texts = self._texts[b]
            params["text"] = texts.get(row.language) or texts["uz"]
        return params
