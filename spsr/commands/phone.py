"""``spsr phone NUMBER``: a phone on a simulated USSD gateway, dialling *1140# on a running server."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import aiohttp

from spsr.arguments import local_server
from spsr.language import ptr, tell, tr
from ussd.simulator import UssdSession, boxed, play


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    default_url = f"{local_server()}/ussd/africastalking"
    parser = sub.add_parser("phone", help=tr("dial *1140# from a simulated phone (USSD gateway simulator)"))
    parser.add_argument("number", metavar=ptr("metavar", "number"), help=tr("the caller's phone, e.g. +998901234567"))
    parser.add_argument("--inputs", metavar=ptr("metavar", "INPUTS"),
                        help=tr("play a session with these comma-separated inputs and print it"))
    parser.add_argument("--url", default=default_url, help=tell("the USSD endpoint (default {url})", url=default_url))
    parser.add_argument("--key", default=os.environ.get("SPSR_USSD_KEY"), metavar=ptr("metavar", "KEY"),
                        help=tr("the gateway key (SPSR_USSD_KEY)"))
    parser.add_argument("--code", default="*1140#", metavar=ptr("metavar", "CODE"), help=tr("service code to dial"))
    parser.add_argument("--step-timeout", type=float, default=10.0, metavar=ptr("metavar", "STEP_TIMEOUT"),
                        help=tr("seconds a gateway waits per answer"))
    parser.add_argument("--session-timeout", type=float, default=180.0, metavar=ptr("metavar", "SESSION_TIMEOUT"),
                        help=tr("seconds a session may last"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    params = {"key": args.key} if args.key else {}
    timeout = aiohttp.ClientTimeout(total=args.step_timeout)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async def post(form: dict[str, str]) -> tuple[int, str]:
            async with http.post(args.url, data=form, params=params) as resp:
                return resp.status, await resp.text()

        session = UssdSession(post=post, phone=args.number, service_code=args.code,
                              step_seconds=args.step_timeout, session_seconds=args.session_timeout)
        if args.inputs is not None:
            inputs = [i for i in args.inputs.split(",")] if args.inputs else []
            print(await play(session, inputs), end="")
            return 0
        print(tell("Dialling {code} from {number} … (Ctrl-D or an empty line on an END screen to quit)",
                   code=args.code, number=args.number))
        screen = await session.dial()
        buttons = (ptr("phone button", "OK"), ptr("phone button", "Reply"), ptr("phone button", "Cancel"))
        while True:
            print(boxed(screen, buttons=buttons))
            if screen.end:
                return 0
            try:
                typed = await asyncio.to_thread(input, "> ")
            except EOFError:
                print("\n" + tr("(cancelled)"))
                return 0
            screen = await session.reply(typed.strip())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(argparse.Namespace()))
