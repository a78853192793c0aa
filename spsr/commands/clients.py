"""``spsr clients``: API clients of the registry API — add (prints the key once), list, revoke, rotate."""

from __future__ import annotations

import argparse
import asyncio

from core.config import Settings
from core.errors import DomainError
from core.storage.uow import Actor
from registry_api.clients import (
    MAX_EXPIRES_DAYS,
    MAX_KEEP_OLD_HOURS,
    MAX_RATE_PER_MINUTE,
    ROLES,
    add_client,
    list_clients,
    revoke_client,
    rotate_key,
)
from spsr.arguments import whole_number
from spsr.bootstrap import build_core

CLI = Actor("staff", "spsr clients", "cli")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("clients", help="registry API clients and keys: add, list, revoke, rotate")
    actions = parser.add_subparsers(dest="clients_command", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add", help="create a client and print its key (shown once)",
        description="Create an API client and print its key (shown once). A revoked or expired client "
        "is given a new key this way, with the role, lifetime and rate given here. An agency client is "
        "named after its agency in the exchange catalogue (soliq, pensiya, bank, ...): the API takes the "
        "name for the agency of the records it sends.")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--expires", type=whole_number(1, MAX_EXPIRES_DAYS), metavar="DAYS",
                     help="the key expires after DAYS days")
    add.add_argument("--rate", type=whole_number(1, MAX_RATE_PER_MINUTE), default=600, metavar="PER_MINUTE",
                     help="rate limit (default 600/min)")
    add.set_defaults(func=_add)
    actions.add_parser("list", help="list clients").set_defaults(func=_list)
    revoke = actions.add_parser("revoke", help="revoke a client's key")
    revoke.add_argument("name")
    revoke.set_defaults(func=_revoke)
    rotate = actions.add_parser(
        "rotate", help="give an active client a new key (shown once); the old key stops, now or later",
        description="Give an active client a new key and print it (shown once). The old key stops at once "
        "(a running server may take it for up to 5 s more), as it must when it leaked; --keep-old HOURS "
        "keeps it working that long beside the new one, so the agency can move every system to the new "
        "key without an outage (a key an earlier rotation kept stops now). The role and rate stay, and so "
        "does the expiry unless --expires sets a new one.")
    rotate.add_argument("name")
    rotate.add_argument("--expires", type=whole_number(1, MAX_EXPIRES_DAYS), metavar="DAYS",
                        help="the new key expires after DAYS days")
    rotate.add_argument("--keep-old", type=whole_number(0, MAX_KEEP_OLD_HOURS), default=0, metavar="HOURS",
                        help=f"the old key still works for HOURS hours (at most {MAX_KEEP_OLD_HOURS}; default 0)")
    rotate.set_defaults(func=_rotate)


def _run(work: object) -> int:
    async def go() -> int:
        core = await build_core(Settings.from_env())
        try:
            async with core.uow() as uow:
                code = await work(uow)  # type: ignore[operator]
                await uow.commit()
            return int(code)
        except DomainError as exc:
            print(f"error: {exc}")
            return 1
        finally:
            await core.engine.dispose()

    return asyncio.run(go())


def _add(args: argparse.Namespace) -> int:
    async def work(uow: object) -> int:
        known = {c.name for c in await list_clients(uow, limit=1_000_000)}  # type: ignore[arg-type]
        view, key = await add_client(uow, args.name, args.role, CLI, expires_days=args.expires,  # type: ignore[arg-type]
                                     rate_per_minute=args.rate)
        expires = view.expires_at.date().isoformat() if view.expires_at else "never"
        again = " (it was revoked or expired: this is its new key)" if view.name in known else ""
        print(f"client {view.name} ({view.role}), expires {expires}{again}")
        print(f"key (shown once, store it now): {key}")
        return 0

    return _run(work)


def _list(args: argparse.Namespace) -> int:
    async def work(uow: object) -> int:
        now = uow.now()  # type: ignore[attr-defined]
        for c in await list_clients(uow):  # type: ignore[arg-type]
            state = "active" if c.active(now) else ("revoked" if c.revoked_at else "expired")
            expires = c.expires_at.date().isoformat() if c.expires_at else "-"
            old = (f"; the old key works until {c.previous_key_until:%Y-%m-%d %H:%M}"
                   if c.active(now) and c.previous_key_until is not None and c.previous_key_until > now else "")
            print(f"{c.name:30} {c.role:9} {state:8} expires {expires:10} key spsr_{c.key_prefix}_…{old}")
        return 0

    return _run(work)


def _revoke(args: argparse.Namespace) -> int:
    async def work(uow: object) -> int:
        view = await revoke_client(uow, args.name, CLI)  # type: ignore[arg-type]
        print(f"client {view.name} revoked")
        return 0

    return _run(work)


def _rotate(args: argparse.Namespace) -> int:
    async def work(uow: object) -> int:
        view, key = await rotate_key(uow, args.name, CLI, expires_days=args.expires,  # type: ignore[arg-type]
                                     keep_old_hours=args.keep_old)
        expires = view.expires_at.date().isoformat() if view.expires_at else "never"
        old = ("the old key no longer works" if view.previous_key_until is None
               else f"the old key works until {view.previous_key_until:%Y-%m-%d %H:%M}")
        print(f"client {view.name} ({view.role}) has a new key, expires {expires}; {old}")
        print(f"key (shown once, store it now): {key}")
        return 0

    return _run(work)
