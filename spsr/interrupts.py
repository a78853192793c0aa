"""SIGINT and SIGTERM as a cancellation of the running command, so that it can roll back, say what
it finished and exit with the signal's status (130, 143) instead of dying where it stood.

A cancellation that lands while asyncpg is still sending an ``executemany`` can wait for ever: the
driver asks the server to cancel, the server (waiting in ClientRead for the rest) has nothing to
cancel, and no answer comes. So a command that has not finished ``ABORT_AFTER`` seconds after the
signal has its PostgreSQL connections aborted; the server rolls their transactions back.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
ABORT_AFTER = 3.0  # seconds: a rollback after a cancellation takes well under one


@dataclass
class Interrupt:
    """The signal that stopped the command, once one came, and the connections it may abort."""

    signal: signal.Signals | None = None
    _connections: set[Any] = field(default_factory=set)
    _deferring: int = 0
    _pending: Callable[[], None] | None = None

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS.get(self.signal or signal.SIGINT, 130)

    def watch(self, engine: AsyncEngine) -> None:
        """Abort ``engine``'s connections in use if the command outlives its cancellation."""
        if engine.dialect.name != "postgresql":
            return  # aiosqlite runs each statement whole in its thread: a cancellation never hangs
        pool = engine.sync_engine.pool
        event.listen(pool, "checkout", lambda connection, _record, _proxy: self._connections.add(connection))
        event.listen(pool, "checkin", lambda connection, _record: self._connections.discard(connection))

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A signal during the block cancels once the block is over: a commit and the count of
        what it stored go together, or the summary would miss a batch that is in the database."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
            if not self._deferring and self._pending is not None:
                pending, self._pending = self._pending, None
                pending()

    def _stop(self, cancel: Callable[[], None]) -> None:
        if self._deferring:
            self._pending = cancel
        else:
            cancel()

    def abort(self) -> None:
        for connection in list(self._connections):
            connection.terminate()  # outside a greenlet: closes the socket, waits for nothing
        self._connections.clear()


@contextlib.contextmanager
def cancelled_by_signals() -> Iterator[Interrupt]:
    """For the block, SIGINT and SIGTERM cancel the current task (once: a second signal acts as
    it would without this, so a stuck clean-up can still be stopped). Only in the main thread,
    where signals arrive; elsewhere (a test running the command in a thread) it does nothing."""
    interrupt = Interrupt()
    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def cancel() -> None:
        task.cancel()
        loop.call_later(ABORT_AFTER, interrupt.abort)

    def stop(signum: signal.Signals) -> None:
        interrupt.signal = signum
        _restore(loop)
        interrupt._stop(cancel)

    for signum in EXIT_STATUS:
        loop.add_signal_handler(signum, stop, signum)
    try:
        yield interrupt
    finally:
        _restore(loop)


def _restore(loop: asyncio.AbstractEventLoop) -> None:
    for signum in EXIT_STATUS:
        loop.remove_signal_handler(signum)
