"""Audit entries for reads of a person's data, written by group commit.

The law asks that every read of a person's data be on record before the data leaves ("who looked
at my data"), so a read cannot skip the write. Writing each read in its own transaction made a
write per GET: on SQLite every reader queued for the one write lock. Here readers hand their
entries to one writer and wait; whatever arrives while a batch is being committed goes into the
next batch. Under load, dozens of reads share one INSERT and one COMMIT; alone, a read waits for
one short transaction, as before. A read is answered only once its entry is committed; if the
write fails, the caller gets an error, not the data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from sqlalchemy import insert

from core.storage.schema import AuditEntry
from core.storage.uow import Core
from spsr.server import CORE

log = logging.getLogger("registry_api.audit")

MAX_BATCH = 500


class ReadAuditWriter:
    """Commits audit rows handed in by concurrent requests, many per transaction."""

    def __init__(self, core: Core, max_batch: int = MAX_BATCH) -> None:
        self.core = core
        self.max_batch = max_batch
        self._pending: list[tuple[list[dict[str, Any]], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed, for tests and the benchmark

    async def write(self, rows: list[dict[str, Any]]) -> None:
        """Return once ``rows`` are committed; raise what the write raised."""
        if not rows:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="read-audit-writer")
        # A caller that goes away (client disconnect) must not cancel a batch other readers wait on.
        await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._pending:
            batch: list[tuple[list[dict[str, Any]], asyncio.Future[None]]] = []
            count = 0
            while self._pending and (not batch or count + len(self._pending[0][0]) <= self.max_batch):
                rows, future = self._pending.pop(0)
                batch.append((rows, future))
                count += len(rows)
            try:
                async with self.core.uow() as uow:
                    await uow.session.execute(insert(AuditEntry), [row for rows, _ in batch for row in rows])
                    await uow.commit()
                self.batches += 1
            except Exception as exc:  # every waiter answers with the error instead of the data
                log.exception("writing %d read audit entries failed", count)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def close(self) -> None:
        """Wait for what is queued (the server stops after its last answer)."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task


READ_AUDIT = web.AppKey("api_read_audit", ReadAuditWriter)


def mount(app: web.Application) -> None:
    app[READ_AUDIT] = ReadAuditWriter(app[CORE])

    async def drain_on_shutdown(app: web.Application) -> AsyncIterator[None]:
        yield
        await app[READ_AUDIT].close()

    app.cleanup_ctx.append(drain_on_shutdown)
