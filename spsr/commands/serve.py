"""``spsr serve``: the web server for every front end, with its background jobs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import signal

from aiohttp import web

from core.config import Settings
from registry_api.app import MaskedAccessLogger
from spsr.arguments import served_port, whole_number
from spsr.bootstrap import build_core
from spsr.language import ptr, tr
from spsr.server import build_app

log = logging.getLogger("spsr.serve")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help=tr("run the web server (USSD, SMS, Telegram webhook, API, staff pages)"))
    parser.add_argument("--host", default="127.0.0.1", metavar=ptr("metavar", "HOST"),
                        help=tr("address to listen on (default 127.0.0.1)"))
    parser.add_argument("--port", type=whole_number(1, 65535), default=served_port(), metavar=ptr("metavar", "PORT"),
                        help=tr("port to listen on (default PORT, else 8080)"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    asyncio.run(serve(args.host, args.port))
    return 0


async def serve(host: str, port: int) -> None:
    settings = Settings.from_env()
    if settings.public_url is None:  # the SMS gateway's receipts come back to this very port
        settings = dataclasses.replace(settings, public_url=f"http://127.0.0.1:{port}")
    core = await build_core(settings)
    app = build_app(core, settings)
    runner = web.AppRunner(app, access_log_class=MaskedAccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("spsr serving on http://%s:%d (database %s, today %s)", host, port,
             core.engine.url.render_as_string(hide_password=True), core.clock.today())
    # SIGTERM (systemd's and docker's stop) stops as Ctrl-C does: the senders finish their sends in
    # flight, hand the rest back and leave the roll, so the other processes take their share at
    # once. Killed outright, the process counted as crashed (a lower rate for 15 s, its claimed
    # messages held for their lease). A second SIGTERM kills, as before.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stopping() -> None:
        loop.remove_signal_handler(signal.SIGTERM)
        log.info("SIGTERM: stopping")
        stop.set()

    with contextlib.suppress(NotImplementedError):  # not on Windows
        loop.add_signal_handler(signal.SIGTERM, stopping)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await core.engine.dispose()
