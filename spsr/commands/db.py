"""``spsr db``: migrate the database, show its revision, write a new migration."""

from __future__ import annotations

import argparse
import asyncio
import sys

from core.config import Settings
from core.seed.bulk import DEFERRED_TABLE, IndexRestoreError
from core.storage.engine import create_engine
from core.storage.migrate import autogenerate, current_revision, head_revision, upgrade
from spsr.bootstrap import migrate_database
from spsr.language import ntell, number, ptr, tell, tr


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("db", help=tr("database schema: upgrade, current, revision"))
    actions = parser.add_subparsers(dest="db_command", metavar=ptr("metavar", "ACTION"), required=True)
    actions.add_parser("upgrade", help=tr("migrate the database to the newest schema")).set_defaults(func=_upgrade)
    actions.add_parser("current", help=tr("print the database's schema revision")).set_defaults(func=_current)
    rev = actions.add_parser("revision", help=tr("autogenerate a migration from the models"))
    rev.add_argument("-m", "--message", required=True, metavar=ptr("metavar", "MESSAGE"))
    rev.add_argument("--rev-id", help=tr("revision id, e.g. 0002"))
    rev.set_defaults(func=_revision)


def _upgrade(args: argparse.Namespace) -> int:
    async def run() -> int:
        engine = create_engine(Settings.from_env().database_url)
        try:
            built = await migrate_database(engine)
            if built:
                print(ntell("built {count} indexes and constraints a seed had left unbuilt",
                            "built {count} indexes and constraints a seed had left unbuilt",
                            len(built), count=number(len(built))))
            print(tell("database at revision {revision}", revision=await current_revision(engine)))
        except IndexRestoreError as exc:
            print(not_rebuilt(exc), file=sys.stderr)
            return 1
        finally:
            await engine.dispose()
        return 0

    return asyncio.run(run())


def not_rebuilt(exc: IndexRestoreError) -> str:
    """What could not be built again, in the operator's language (the database's reasons as it gave them)."""
    listed = "; ".join(f"{name}: {reason}" for name, reason in exc.failures.items())
    count = len(exc.failures)
    return ntell("could not build again {count} index(es) deferred by a seed (their definitions are kept in "
                 "{table}): {listed}",
                 "could not build again {count} index(es) deferred by a seed (their definitions are kept in "
                 "{table}): {listed}", count, count=number(count), table=DEFERRED_TABLE, listed=listed)


def _current(args: argparse.Namespace) -> int:
    async def run() -> str | None:
        engine = create_engine(Settings.from_env().database_url)
        rev = await current_revision(engine)
        await engine.dispose()
        return rev

    rev = asyncio.run(run())
    print(tell("database: {revision}; newest: {newest}", revision=rev or ptr("schema revision", "empty"),
               newest=head_revision()))
    return 0


def _revision(args: argparse.Namespace) -> int:
    async def run() -> None:
        engine = create_engine(Settings.from_env().database_url)
        await upgrade(engine)
        await autogenerate(engine, args.message, rev_id=args.rev_id)
        await engine.dispose()

    asyncio.run(run())
    return 0
