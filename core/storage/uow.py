"""The unit of work: one use case, one transaction, rolled back unless committed."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.clock import Clock
from core.rates import RateBook
from core.storage.schema import AuditEntry


@dataclass(frozen=True)
class Actor:
    """Who acts, and through which channel: recorded on every state change."""

    kind: str  # citizen | staff | agency | system
    id: str
    channel: str  # ussd | sms | telegram | web | api | cli | system

    @classmethod
    def system(cls, job: str = "system") -> Actor:
        return cls("system", job, "system")


SYSTEM = Actor("system", "system", "system")


@dataclass
class Core:
    """What every service needs, built once at the wiring point (``spsr.bootstrap``)."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    book: RateBook
    rng: random.Random = field(default_factory=random.SystemRandom)
    _reader: async_sessionmaker[AsyncSession] | None = field(default=None, init=False, repr=False)

    def uow(self, *, write: bool = False, read_only: bool = False) -> UnitOfWork:
        """A unit of work; ``write=True`` for a use case that reads, then writes; ``read_only=True``
        for one that only reads (see UnitOfWork)."""
        return UnitOfWork(self, write=write, read_only=read_only)

    def reader(self) -> async_sessionmaker[AsyncSession]:
        """Sessions whose PostgreSQL connection runs each statement on its own (autocommit)."""
        if self._reader is None:
            self._reader = async_sessionmaker(self.engine.execution_options(isolation_level="AUTOCOMMIT"),
                                              expire_on_commit=False, autoflush=False)
        return self._reader


class UnitOfWork:
    """``async with core.uow() as uow: ...; await uow.commit()`` — anything uncommitted rolls back.

    ``write=True`` takes SQLite's write lock when the unit of work starts (``BEGIN IMMEDIATE``),
    waiting for it as long as the busy timeout allows. Otherwise the driver begins SQLite's
    transaction only at the first write, and what the use case read before it is unprotected: two
    requests can pass the same version check and both write. PostgreSQL needs nothing (its rows
    lock: ``SELECT ... FOR UPDATE``).

    ``read_only=True`` skips BEGIN and ROLLBACK on PostgreSQL, two of a short read's five round
    trips. Under READ COMMITTED every statement sees its own snapshot either way, so a read sees
    nothing different; a unit of work that writes must not ask for it (there is nothing to roll back).
    """

    session: AsyncSession

    def __init__(self, core: Core, *, write: bool = False, read_only: bool = False) -> None:
        self.core = core
        self.write = write
        self.read_only = read_only
        self.clock = core.clock
        self.book = core.book
        self.rng = core.rng
        self._after_commit: list[Callable[[], Any]] = []

    async def __aenter__(self) -> UnitOfWork:
        if self.read_only and self.core.engine.dialect.name == "postgresql":
            self.session = self.core.reader()()
        else:
            self.session = self.core.sessions()
        try:
            await self.session.begin()
            if self.write and self.core.engine.dialect.name == "sqlite":
                await self.session.execute(text("BEGIN IMMEDIATE"))
        except BaseException:  # e.g. "database is locked" past the busy timeout: __aexit__ will not run
            await self.session.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and not isinstance(exc, Exception):
            # Cancelled or interrupted inside a statement: the driver may be half-way through its
            # protocol (asyncpg's executemany leaves the server waiting in ClientRead), and a
            # ROLLBACK would wait on it for ever. Dropping the connection rolls back just as
            # surely: the server ends the transaction when the connection goes.
            await self.session.invalidate()
            return
        try:
            if self.session.in_transaction():
                await self.session.rollback()
        finally:
            await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()
        hooks, self._after_commit = self._after_commit, []
        for hook in hooks:
            result = hook()
            if hasattr(result, "__await__"):
                await result

    async def rollback(self) -> None:
        await self.session.rollback()

    def after_commit(self, hook: Callable[[], Any]) -> None:
        """Run ``hook`` once the transaction is committed (e.g. wake the outbox sender)."""
        self._after_commit.append(hook)

    def now(self) -> dt.datetime:
        return self.clock.now()

    def today(self) -> dt.date:
        return self.clock.today()

    def audit(
        self,
        actor: Actor,
        action: str,
        entity: str,
        entity_id: object,
        **details: Any,
    ) -> None:
        """Record a state change in the same transaction as the change itself."""
        self.session.add(AuditEntry(**audit_row(self.now(), actor, action, entity, entity_id, **details)))


def audit_row(at: dt.datetime, actor: Actor, action: str, entity: str, entity_id: object,
              **details: Any) -> dict[str, Any]:
    """The columns of one audit entry, for writers that insert many at once."""
    return {
        "at": at,
        "actor_kind": actor.kind,
        "actor_id": actor.id,
        "channel": actor.channel,
        "action": action,
        "entity": entity,
        "entity_id": str(entity_id),
        "details": _jsonable(details),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value
