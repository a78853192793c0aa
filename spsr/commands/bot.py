"""``spsr bot``: the Telegram bot by long polling (a developer's machine), or the fake Bot API."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from spsr.arguments import whole_number
from spsr.language import ptr, tell, tr

log = logging.getLogger("spsr.bot")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("bot", help=tr("run the Telegram bot by polling, or a fake Bot API server to try it"))
    parser.add_argument("--polling", action="store_true", help=tr("run the bot with getUpdates (no webhook)"))
    parser.add_argument("--fake-api", action="store_true", help=tr("run a fake Telegram Bot API server instead"))
    parser.add_argument("--host", default="127.0.0.1", metavar=ptr("metavar", "HOST"),
                        help=tr("fake API address (default 127.0.0.1)"))
    parser.add_argument("--port", type=whole_number(1, 65535), default=8081, metavar=ptr("metavar", "PORT"),
                        help=tr("fake API port (default 8081)"))
    parser.add_argument("--latency", type=float, default=0.0, metavar=ptr("metavar", "SECONDS"),
                        help=tr("fake API: answer each call this late, as Telegram over a real network (default 0)"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.fake_api:
        from bots.fake_api import serve_forever

        asyncio.run(serve_forever(args.host, args.port, latency=max(0.0, args.latency), started=_fake_api_started))
        return 0
    if not args.polling:
        print(tr("spsr bot: choose --polling (needs SPSR_TELEGRAM_TOKEN) or --fake-api; "
                 "in production the bot runs inside `spsr serve` by webhook"))
        return 2
    return asyncio.run(_poll())


def _fake_api_started(url: str, token: str) -> None:
    print(tell("fake Bot API on {url} — token {token}", url=url, token=token), flush=True)


async def _poll() -> int:
    from bots.webhook import start_bot, stop_bot
    from core.config import Settings
    from spsr.bootstrap import build_core

    settings = Settings.from_env()
    if not settings.telegram_token:
        print(tr("spsr bot: SPSR_TELEGRAM_TOKEN is not set"))
        return 2
    core = await build_core(settings)
    application, sender = await start_bot(core, settings, webhook=False)
    assert application.updater is not None
    await application.bot.delete_webhook()
    await application.updater.start_polling(allowed_updates=["message", "callback_query"])
    task = asyncio.create_task(sender.run(), name="telegram-sender")
    log.info("Telegram bot @%s polling", application.bot.username)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await sender.stop(task)
        await application.updater.stop()
        await stop_bot(application)
        await core.engine.dispose()
    return 0
