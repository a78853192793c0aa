"""The real spsr web app with the real PTB Application, talking to the fake Bot API on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bots.webhook import BOT, SENDER, SENDER_TASK, mount
from core.config import Settings
from core.storage.uow import Core
from spsr.server import build_app
from tests.telegram.fake_bot_api import FakeBotApi, callback_update, contact_update, text_update

SECRET = "s3cret-Token_1140"
CHAT = 555001


@dataclass
class Harness:
    core: Core
    fake: FakeBotApi
    api: TestServer
    server: TestServer | None = None
    others: list[TestServer] = field(default_factory=list)

    @property
    def app(self) -> web.Application:
        assert self.server is not None
        return self.server.app

    async def _serve(self) -> TestServer:
        settings = Settings(database_url="unused", telegram_token=self.fake.token,
                            telegram_base_url=str(self.api.make_url("/bot")),
                            telegram_webhook_url="http://127.0.0.1/placeholder", telegram_secret=SECRET)
        server = TestServer(build_app(self.core, settings, mounts=[mount]), host="127.0.0.1")
        await server.start_server()
        # Tests run the sender's passes themselves: the background sender is stopped, after the
        # pass it may have begun. Not cancelled: a pass cancelled in aiosqlite's connect leaves the
        # connection to be closed from aiosqlite's thread, unawaited, after this test's loop is gone.
        await server.app[SENDER].stop(server.app[SENDER_TASK])
        return server

    async def start(self) -> None:
        """Start (or restart) spsr serve's app: a new Application over the same database."""
        self.server = await self._serve()
        # The real Telegram posts to the URL the bot registered; point it at this test server.
        self.fake.webhook_url = str(self.server.make_url("/telegram/webhook"))

    async def second_process(self) -> TestServer:
        """Another ``spsr serve`` over the same database, as a second process behind the webhook."""
        url = self.fake.webhook_url
        server = await self._serve()
        self.fake.webhook_url = url  # its setWebhook registered the placeholder
        self.others.append(server)
        return server

    async def stop(self) -> None:
        for other in self.others:
            await other.close()
        self.others.clear()
        if self.server is not None:
            await self.server.close()
            self.server = None

    async def settle(self) -> None:
        for app in [self.app, *(o.app for o in self.others)]:
            await asyncio.wait_for(app[BOT].update_queue.join(), 10)

    async def send(self, update: dict[str, Any], **kw: Any) -> int:
        status = await self.fake.deliver(update, **kw)
        await self.settle()
        return status

    async def say(self, text: str, chat: int = CHAT) -> None:
        assert await self.send(text_update(chat, text)) == 200

    async def press(self, label_or_key: str, chat: int = CHAT, message: dict[str, Any] | None = None) -> None:
        """Press the button whose label contains ``label_or_key`` on the chat's latest keyboard."""
        message = message or self.keyboard_message(chat)
        for row in message["reply_markup"]["inline_keyboard"]:
            for button in row:
                if label_or_key in button["text"]:
                    assert await self.send(callback_update(chat, message, button["callback_data"])) == 200
                    return
        raise AssertionError(f"no button {label_or_key!r} in {self.buttons(chat)}")

    async def share(self, phone: str, chat: int = CHAT, user_id: int | None = None) -> None:
        assert await self.send(contact_update(chat, phone, user_id=chat if user_id is None else user_id)) == 200

    def keyboard_message(self, chat: int = CHAT) -> dict[str, Any]:
        ids = sorted(mid for (cid, mid), m in self.fake._messages.items() if cid == chat and "reply_markup" in m)
        assert ids, "no message with buttons"
        return self.fake.message(chat, ids[-1])

    def buttons(self, chat: int = CHAT) -> list[str]:
        m = self.keyboard_message(chat)
        return [b["text"] for row in m["reply_markup"]["inline_keyboard"] for b in row]

    def last_text(self, chat: int = CHAT) -> str:
        return self.fake.texts(chat)[-1]

    def all_text(self, chat: int = CHAT) -> str:
        return "\n".join(self.fake.texts(chat))

    async def deliver_outbox(self) -> Any:
        """One sender pass, as if a second had gone by since the last (per-chat buckets full)."""
        sender = self.app[SENDER]
        sender._chats.clear()
        return await sender.run_once()


@pytest.fixture
async def bot(core: Core) -> AsyncIterator[Harness]:
    fake = FakeBotApi()
    api = TestServer(fake.app(), host="127.0.0.1")
    await api.start_server()
    harness = Harness(core, fake, api)
    await harness.start()
    yield harness
    await harness.stop()
    await api.close()
