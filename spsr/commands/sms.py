"""``spsr sms NUMBER TEXT`` (send an SMS to the server, print the reply) and ``spsr sms-gateway``."""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
from aiohttp import web

from spsr.arguments import local_server, whole_number
from spsr.language import ntell, number, ptr, tell, tr
from ussd.sms_simulator import build_gateway


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sms", help=tr("send an SMS from a phone to the server and print the reply"))
    p.add_argument("number", metavar=ptr("metavar", "number"))
    p.add_argument("text", metavar=ptr("metavar", "text"))
    server = local_server()
    p.add_argument("--url", default=server, help=tell("the spsr server (default {url})", url=server))
    p.add_argument("--gateway", default="http://127.0.0.1:8090", metavar=ptr("metavar", "GATEWAY"),
                   help=tr("the SMS gateway simulator"))
    p.add_argument("--wait", type=float, default=5.0, metavar=ptr("metavar", "WAIT"),
                   help=tr("seconds to wait for the reply to arrive"))
    p.set_defaults(func=run_sms)
    g = sub.add_parser("sms-gateway", help=tr("run the SMS gateway simulator (set SPSR_SMS_GATEWAY_URL to it)"))
    g.add_argument("--host", default="127.0.0.1", metavar=ptr("metavar", "HOST"))
    g.add_argument("--port", type=whole_number(1, 65535), default=8090, metavar=ptr("metavar", "PORT"))
    g.add_argument("--answer-delay", type=float, default=0.0, metavar=ptr("metavar", "SECONDS"),
                   help=tr("answer each submission this late, as a gateway over a real network does (default 0)"))
    g.set_defaults(func=run_gateway)


def run_gateway(args: argparse.Namespace) -> int:
    print(tell("SMS gateway simulator on {url} (POST /send, GET /messages)", url=f"http://{args.host}:{args.port}"))
    web.run_app(build_gateway(answer_delay=max(0.0, args.answer_delay)), host=args.host, port=args.port, print=None)
    return 0


def run_sms(args: argparse.Namespace) -> int:
    return asyncio.run(_sms(args))


async def _sms(args: argparse.Namespace) -> int:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        before = await _delivered(http, args.gateway, args.number)
        async with http.post(f"{args.url.rstrip('/')}/sms/inbound",
                             json={"from": args.number, "text": args.text, "id": f"cli-{time.time_ns()}"}) as r:
            body = await r.json()
        if r.status != 200:
            print(tell("server refused: {status} {body}", status=r.status, body=body))
            return 1
        deadline = time.monotonic() + args.wait
        while before is not None and time.monotonic() < deadline:
            now = await _delivered(http, args.gateway, args.number)
            if now and len(now) > len(before):
                for m in now[len(before):]:
                    print(f"<<< {m['text']}\n    {delivered(m)}")
                return 0
            await asyncio.sleep(0.3)
        print(f"<<< {body.get('reply')}\n    " + tr("(from the server's answer: no SMS seen at the gateway simulator)"))
        return 0


def delivered(message: dict[str, object]) -> str:
    """How the gateway simulator carried a message: its segments, encoding and id."""
    segments = message["segments"]
    count = segments if isinstance(segments, int) else 0
    # Translators: English says "segment(s)" whatever the count, as it always did; say it in each plural form.
    return ntell("({count} segment(s), {encoding}, id {id})", "({count} segment(s), {encoding}, id {id})", count,
                 count=number(count) if isinstance(segments, int) else segments, encoding=message["encoding"],
                 id=message["id"])


async def _delivered(http: aiohttp.ClientSession, gateway: str, phone: str) -> list[dict[str, object]] | None:
    try:
        async with http.get(f"{gateway.rstrip('/')}/messages", params={"to": phone}) as r:
            return list(await r.json())
    except (aiohttp.ClientError, TimeoutError):
        return None
