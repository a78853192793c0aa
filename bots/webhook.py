"""The bot on ``spsr serve``'s event loop: the webhook route, the Application and the sender.

``POST /telegram/webhook`` checks ``X-Telegram-Bot-Api-Secret-Token`` on every update, puts the
update on ``application.update_queue`` and answers 200 at once; the Application processes it in
its own task. Nothing starts without ``SPSR_TELEGRAM_TOKEN``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from telegram import Update

from bots.app import BotApplication, build_application, set_commands
from bots.sender import TelegramSender
from core.config import Settings
from core.storage.uow import Core
from spsr.server import CORE, SETTINGS

log = logging.getLogger("spsr.bot")

BOT = web.AppKey[BotApplication]("telegram_bot")
SENDER = web.AppKey("telegram_sender", TelegramSender)
SENDER_TASK = web.AppKey("telegram_sender_task", asyncio.Task[None])
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def mount(app: web.Application) -> None:
    """Mount the webhook route and the bot's lifecycle when a token is configured."""
    settings = app[SETTINGS]
    if not settings.telegram_token:
        log.info("Telegram bot off: SPSR_TELEGRAM_TOKEN is not set")
        return
    if not settings.telegram_secret:
        log.warning("SPSR_TELEGRAM_SECRET is not set: every webhook update will be refused")
    app.router.add_post(WEBHOOK_PATH, webhook)
    app.cleanup_ctx.append(_lifecycle)


async def webhook(request: web.Request) -> web.Response:
    """Accept one update: secret checked, queued for the Application, 200 at once."""
    secret = request.app[SETTINGS].telegram_secret
    given = request.headers.get(SECRET_HEADER, "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        return web.json_response({"ok": False, "description": "forbidden"}, status=403)
    application = request.app[BOT]
    try:
        data = await request.json()
        update = Update.de_json(data, application.bot)
    except (ValueError, TypeError, KeyError, json.JSONDecodeError):
        return web.json_response({"ok": False, "description": "bad update"}, status=400)
    await application.update_queue.put(update)
    return web.json_response({"ok": True})


async def start_bot(core: Core, settings: Settings, *,
                    webhook: bool = True) -> tuple[BotApplication, TelegramSender]:
    """Build, initialise and start the Application; register the webhook and commands."""
    assert settings.telegram_token
    # httpx logs every Bot API request at INFO (getUpdates every few seconds): warnings are enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    application = build_application(core, settings.telegram_token, base_url=settings.telegram_base_url,
                                    webhook=webhook)
    await application.initialize()
    await application.start()
    if webhook and settings.telegram_webhook_url:
        await application.bot.set_webhook(settings.telegram_webhook_url.rstrip("/") + WEBHOOK_PATH
                                          if not settings.telegram_webhook_url.endswith(WEBHOOK_PATH)
                                          else settings.telegram_webhook_url,
                                          secret_token=settings.telegram_secret,
                                          allowed_updates=["message", "callback_query"])
    try:
        await set_commands(application)
    except Exception:  # the menu is a nicety: the bot works without it
        log.exception("could not set the command menu")
    return application, TelegramSender(core, application.bot, per_second=settings.telegram_per_second,
                                       per_chat_per_second=settings.telegram_per_chat_per_second,
                                       concurrency=settings.telegram_concurrency,
                                       lease=dt.timedelta(seconds=settings.outbox_lease_seconds))


async def stop_bot(application: BotApplication) -> None:
    await application.stop()
    await application.shutdown()


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    application, sender = await start_bot(app[CORE], app[SETTINGS])
    app[BOT] = application
    app[SENDER] = sender
    task = app[SENDER_TASK] = asyncio.create_task(sender.run(), name="telegram-sender")
    log.info("Telegram bot @%s on %s", application.bot.username, WEBHOOK_PATH)
    yield
    await sender.stop(task)  # lets a pass in progress finish: none is cut off in a query
    await stop_bot(application)
