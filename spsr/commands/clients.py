"""``spsr clients``: API clients of the registry API — add (prints the key once), list, revoke, rotate."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt

from core.config import Settings
from core.errors import DomainError
from core.i18n import N_
from core.storage.uow import Actor
from registry_api.clients import (
    MAX_EXPIRES_DAYS,
    MAX_KEEP_OLD_HOURS,
    MAX_NAME,
    MAX_RATE_PER_MINUTE,
    ROLES,
    add_client,
    list_clients,
    revoke_client,
    rotate_key,
)
from spsr.arguments import whole_number
from spsr.bootstrap import build_core
from spsr.language import current_language, ptr, tell, tr

CLI = Actor("staff", "spsr clients", "cli")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("clients", help=tr("registry API clients and keys: add, list, revoke, rotate"))
    actions = parser.add_subparsers(dest="clients_command", metavar=ptr("metavar", "ACTION"), required=True)
    add = actions.add_parser(
        "add", help=tr("create a client and print its key (shown once)"),
        description=tr("Create an API client and print its key (shown once). A revoked or expired client "
                       "is given a new key this way, with the role, lifetime and rate given here. An agency "
                       "client is named after its agency in the exchange catalogue (soliq, pensiya, bank, ...): "
                       "the API takes the name for the agency of the records it sends."))
    add.add_argument("name", metavar=ptr("metavar", "name"))
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--expires", type=whole_number(1, MAX_EXPIRES_DAYS), metavar=ptr("metavar", "DAYS"),
                     help=tr("the key expires after DAYS days"))
    add.add_argument("--rate", type=whole_number(1, MAX_RATE_PER_MINUTE), default=600,
                     metavar=ptr("metavar", "PER_MINUTE"), help=tr("rate limit (default 600/min)"))
    add.set_defaults(func=_add)
    actions.add_parser("list", help=tr("list clients")).set_defaults(func=_list)
    revoke = actions.add_parser("revoke", help=tr("revoke a client's key"))
    revoke.add_argument("name", metavar=ptr("metavar", "name"))
    revoke.set_defaults(func=_revoke)
    rotate = actions.add_parser(
        "rotate", help=tr("give an active client a new key (shown once); the old key stops, now or later"),
        description=tr("Give an active client a new key and print it (shown once). The old key stops at once "
                       "(a running server may take it for up to 5 s more), as it must when it leaked; "
                       "--keep-old HOURS keeps it working that long beside the new one, so the agency can move "
                       "every system to the new key without an outage (a key an earlier rotation kept stops "
                       "now). The role and rate stay, and so does the expiry unless --expires sets a new one."))
    rotate.add_argument("name", metavar=ptr("metavar", "name"))
    rotate.add_argument("--expires", type=whole_number(1, MAX_EXPIRES_DAYS), metavar=ptr("metavar", "DAYS"),
                        help=tr("the new key expires after DAYS days"))
    rotate.add_argument("--keep-old", type=whole_number(0, MAX_KEEP_OLD_HOURS), default=0,
                        metavar=ptr("metavar", "HOURS"),
                        help=tell("the old key still works for HOURS hours (at most {limit}; default 0)",
                                  limit=MAX_KEEP_OLD_HOURS))
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
            print(refusal(exc))
            return 1
        finally:
            await core.engine.dispose()

    return asyncio.run(go())


# A refusal in the operator's language. English keeps the terse "error: CODE (params)" that scripts
# read; another language says it in a sentence, the code in brackets at the end.
REFUSALS: dict[str, str] = {
    "client.unknown_role": N_("there is no role {role}"),
    "client.name": N_("{name!r} cannot be a client's name: use up to {limit} letters, digits, dots, hyphens "
                      "and underscores"),
    "client.not_agency": N_("an agency client is named after its agency in the exchange catalogue; {name} is "
                            "none of {agencies}"),
    "client.expires": N_("a key expires after 1 to {limit} days, not {days}"),
    "client.rate": N_("a rate limit is 1 to {limit} requests a minute, not {rate_per_minute}"),
    "client.exists": N_("there is already an active client named {name}; rotate its key instead"),
    "client.keep_old": N_("the old key can be kept for at most {limit} hours, not {hours}"),
    "client.not_found": N_("there is no client named {name}"),
    "client.inactive": N_("the client {name} is revoked or expired: add it again to give it a new key"),
}


class _Params(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "?"


def refusal(exc: DomainError) -> str:
    template = REFUSALS.get(exc.code)
    if current_language() is None or template is None:
        return f"error: {exc}"
    limits = {"client.expires": MAX_EXPIRES_DAYS, "client.rate": MAX_RATE_PER_MINUTE, "client.name": MAX_NAME}
    params = _Params(exc.params, limit=limits.get(exc.code, exc.params.get("limit")))
    agencies = params.get("agencies")
    if isinstance(agencies, list):
        params["agencies"] = ", ".join(map(str, agencies))
    return tell("error: {reason} ({code})", reason=tr(template).format_map(params), code=exc.code)


def _add(args: argparse.Namespace) -> int:
    async def work(uow: object) -> int:
        known = {c.name for c in await list_clients(uow, limit=1_000_000)}  # type: ignore[arg-type]
        view, key = await add_client(uow, args.name, args.role, CLI, expires_days=args.expires,  # type: ignore[arg-type]
                                     rate_per_minute=args.rate)
        said = dict(name=view.name, role=view.role, expires=_expires(view.expires_at))
        if view.name in known:
            print(tell("client {name} ({role}), expires {expires} (it was revoked or expired: this is its new key)",
                       **said))
        else:
            print(tell("client {name} ({role}), expires {expires}", **said))
        print(tell("key (shown once, store it now): {key}", key=key))
        return 0

    return _run(work)


def _list(args: argparse.Namespace) -> int:
    async def work(uow: object) -> int:
        now = uow.now()  # type: ignore[attr-defined]
        for c in await list_clients(uow):  # type: ignore[arg-type]
            state = (ptr("client state", "active") if c.active(now)
                     else ptr("client state", "revoked") if c.revoked_at else ptr("client state", "expired"))
            expires = c.expires_at.date().isoformat() if c.expires_at else "-"
            said = dict(name=c.name, role=c.role, state=state, expires=expires, prefix=c.key_prefix)
            if c.active(now) and c.previous_key_until is not None and c.previous_key_until > now:
                print(tell("{name:30} {role:9} {state:8} expires {expires:10} key spsr_{prefix}_…; the old key "
                           "works until {until}", until=f"{c.previous_key_until:%Y-%m-%d %H:%M}", **said))
            else:
                print(tell("{name:30} {role:9} {state:8} expires {expires:10} key spsr_{prefix}_…", **said))
        return 0

    return _run(work)


def _revoke(args: argparse.Namespace) -> int:
    async def work(uow: object) -> int:
        view = await revoke_client(uow, args.name, CLI)  # type: ignore[arg-type]
        print(tell("client {name} revoked", name=view.name))
        return 0

    return _run(work)


def _rotate(args: argparse.Namespace) -> int:
    async def work(uow: object) -> int:
        view, key = await rotate_key(uow, args.name, CLI, expires_days=args.expires,  # type: ignore[arg-type]
                                     keep_old_hours=args.keep_old)
        said = dict(name=view.name, role=view.role, expires=_expires(view.expires_at))
        if view.previous_key_until is None:
            print(tell("client {name} ({role}) has a new key, expires {expires}; the old key no longer works",
                       **said))
        else:
            print(tell("client {name} ({role}) has a new key, expires {expires}; the old key works until {until}",
                       until=f"{view.previous_key_until:%Y-%m-%d %H:%M}", **said))
        print(tell("key (shown once, store it now): {key}", key=key))
        return 0

    return _run(work)


def _expires(at: dt.datetime | None) -> str:
    return at.date().isoformat() if at else ptr("key expiry", "never")
