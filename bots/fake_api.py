"""A small fake Telegram Bot API server, for tests and for trying the bot without a token.

It answers ``/bot<token>/<method>`` with the real JSON shapes (``{"ok": true, "result": ...}``)
and the real errors (400 Bad Request, 403 ``Forbidden: bot was blocked by the user``, 429 with
``parameters.retry_after``), records every call the bot makes, and injects updates: POSTed to the
bot's webhook (with its secret token) when one is set, otherwise served by ``getUpdates``.

Run it alone with ``spsr bot --fake-api`` (it prints the base URL to give the bot).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any

import aiohttp
from aiohttp import web

BOT_USER = {"id": 7000000001, "is_bot": True, "first_name": "SPSR", "username": "spsr_test_bot",
            "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}

# Parameters sent as plain strings; everything else arrives JSON-encoded in PTB's form posts.
_STRING_PARAMS = frozenset({"text", "callback_query_id", "url", "secret_token", "language_code", "data",
                            "parse_mode", "caption", "action"})


@dataclass
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class FakeBotApi:
    """The fake server's state: what the bot sent, which chats blocked it, what to fail next."""

    token: str = "123456:TEST-token"
    calls: list[Call] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)
    webhook_url: str | None = None
    webhook_secret: str | None = None
    commands: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    # (method, seconds) pairs: the next calls of ``method`` answer 429 with that retry_after.
    _rate_limits: deque[tuple[str, int]] = field(default_factory=deque)
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: dict[int, itertools.count[int]] = field(default_factory=lambda: defaultdict(
        lambda: itertools.count(1)))
    _messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    _new_updates: asyncio.Event | None = None
    _session: aiohttp.ClientSession | None = None
    latency: float = 0.0  # seconds each Bot API call takes to answer, as over a real network

    # --- the server --------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        # A person's side, for trying the bot by hand (curl): say, press, share, read.
        app.router.add_post("/fake/{chat_id}/say", self._say)
        app.router.add_post("/fake/{chat_id}/press", self._press)
        app.router.add_post("/fake/{chat_id}/share", self._share)
        app.router.add_get("/fake/{chat_id}", self._read)

        async def lifecycle(_app: web.Application) -> Any:
            self._session = aiohttp.ClientSession()
            yield
            await self._session.close()

        app.cleanup_ctx.append(lifecycle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        if self.latency and method != "getUpdates":
            await asyncio.sleep(self.latency)
        params = await _read_params(request)
        handler = getattr(self, "_m_" + method.lower(), None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        if method != "getUpdates":
            self.calls.append(Call(method, params))
        if self._rate_limits and self._rate_limits[0][0] == method:
            _, seconds = self._rate_limits.popleft()
            return _error(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})
        try:
            result = await handler(params)
        except _ApiError as exc:
            return _error(exc.code, exc.description)
        return web.json_response({"ok": True, "result": result})

    # --- the person's side ---------------------------------------------------------------------

    async def _say(self, request: web.Request) -> web.Response:
        chat_id = int(request.match_info["chat_id"])
        status = await self.deliver(text_update(chat_id, (await request.text()).strip()))
        return web.json_response({"delivered": status})

    async def _press(self, request: web.Request) -> web.Response:
        """Press the button whose label contains the body's text, on the chat's latest keyboard."""
        chat_id = int(request.match_info["chat_id"])
        label = (await request.text()).strip()
        with_buttons = sorted(mid for (cid, mid), m in self._messages.items()
                              if cid == chat_id and "reply_markup" in m)
        if with_buttons:
            message = self._messages[(chat_id, with_buttons[-1])]
            for row in message["reply_markup"]["inline_keyboard"]:
                for button in row:
                    if label.casefold() in button["text"].casefold():
                        status = await self.deliver(callback_update(chat_id, message, button["callback_data"]))
                        return web.json_response({"delivered": status})
        return web.json_response({"error": "no such button"}, status=404)

    async def _share(self, request: web.Request) -> web.Response:
        chat_id = int(request.match_info["chat_id"])
        phone = (await request.text()).strip()
        return web.json_response({"delivered": await self.deliver(contact_update(chat_id, phone, user_id=chat_id))})

    async def _read(self, request: web.Request) -> web.Response:
        chat_id = int(request.match_info["chat_id"])
        buttons: list[str] = []
        with_buttons = sorted(mid for (cid, mid), m in self._messages.items() if cid == chat_id and "reply_markup" in m)
        if with_buttons:
            markup = self._messages[(chat_id, with_buttons[-1])]["reply_markup"]
            buttons = [b["text"] for row in markup["inline_keyboard"] for b in row]
        return web.json_response({"texts": self.texts(chat_id)[-10:], "buttons": buttons})

    # --- methods -----------------------------------------------------------------------------

    async def _m_getme(self, p: dict[str, Any]) -> Any:
        return BOT_USER

    async def _m_logout(self, p: dict[str, Any]) -> Any:
        return True

    async def _m_close(self, p: dict[str, Any]) -> Any:
        return True

    async def _m_setwebhook(self, p: dict[str, Any]) -> Any:
        self.webhook_url = p.get("url") or None
        self.webhook_secret = p.get("secret_token")
        return True

    async def _m_deletewebhook(self, p: dict[str, Any]) -> Any:
        self.webhook_url = None
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_getwebhookinfo(self, p: dict[str, Any]) -> Any:
        return {"url": self.webhook_url or "", "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    async def _m_getupdates(self, p: dict[str, Any]) -> Any:
        if self.webhook_url:
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                 "use deleteWebhook to delete the webhook first")
        offset = int(p.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates:
            timeout = min(float(p.get("timeout") or 0), 5.0)
            event = self._event()
            event.clear()
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except TimeoutError:
                pass
        return list(self._updates[:int(p.get("limit") or 100)])

    async def _m_setmycommands(self, p: dict[str, Any]) -> Any:
        scope = (p.get("scope") or {}).get("type", "default")
        self.commands[(scope, p.get("language_code") or "")] = list(p.get("commands") or [])
        return True

    async def _m_getmycommands(self, p: dict[str, Any]) -> Any:
        scope = (p.get("scope") or {}).get("type", "default")
        return self.commands.get((scope, p.get("language_code") or ""), [])

    async def _m_deletemycommands(self, p: dict[str, Any]) -> Any:
        scope = (p.get("scope") or {}).get("type", "default")
        self.commands.pop((scope, p.get("language_code") or ""), None)
        return True

    async def _m_sendchataction(self, p: dict[str, Any]) -> Any:
        self._chat(p)
        return True

    async def _m_sendmessage(self, p: dict[str, Any]) -> Any:
        chat_id = self._chat(p)
        text = str(p.get("text") or "")
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        _check_markup(p.get("reply_markup"))
        message_id = next(self._message_ids[chat_id])
        message = {"message_id": message_id, "date": int(time.time()), "from": BOT_USER,
                   "chat": _private_chat(chat_id), "text": text}
        markup = p.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._messages[(chat_id, message_id)] = message
        return message

    async def _m_editmessagetext(self, p: dict[str, Any]) -> Any:
        message = self._message(p)
        text = str(p.get("text") or "")
        markup = p.get("reply_markup")
        if message["text"] == text and message.get("reply_markup") == markup:
            raise _ApiError(400, "Bad Request: message is not modified: specified new message content "
                                 "and reply markup are exactly the same as a current content and reply "
                                 "markup of the message")
        _check_markup(markup)
        message["text"] = text
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return message

    async def _m_editmessagereplymarkup(self, p: dict[str, Any]) -> Any:
        message = self._message(p)
        markup = p.get("reply_markup")
        if message.get("reply_markup") == markup or (not markup and "reply_markup" not in message):
            raise _ApiError(400, "Bad Request: message is not modified: specified new message content "
                                 "and reply markup are exactly the same as a current content and reply "
                                 "markup of the message")
        _check_markup(markup)
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return message

    async def _m_answercallbackquery(self, p: dict[str, Any]) -> Any:
        if not p.get("callback_query_id"):
            raise _ApiError(400, "Bad Request: query is too old and response timeout expired or query ID "
                                 "is invalid")
        return True

    def _chat(self, p: dict[str, Any]) -> int:
        try:
            chat_id = int(p["chat_id"])
        except (KeyError, TypeError, ValueError):
            raise _ApiError(400, "Bad Request: chat not found") from None
        if chat_id in self.blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _message(self, p: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(p)
        message = self._messages.get((chat_id, int(p.get("message_id") or 0)))
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return message

    def _event(self) -> asyncio.Event:
        if self._new_updates is None:
            self._new_updates = asyncio.Event()
        return self._new_updates

    # --- for tests and developers ------------------------------------------------------------

    def rate_limit(self, method: str = "sendMessage", *, times: int = 1, retry_after: int = 3) -> None:
        """The next ``times`` calls of ``method`` answer 429 Too Many Requests."""
        self._rate_limits.extend([(method, retry_after)] * times)

    def sent(self, chat_id: int | None = None, method: str = "sendMessage") -> list[dict[str, Any]]:
        """Parameters of the calls of ``method`` the bot made (to ``chat_id``), oldest first."""
        return [c.params for c in self.calls if c.method == method
                and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)]

    def texts(self, chat_id: int) -> list[str]:
        """Every text the chat was shown: new messages and edits, in order."""
        return [str(c.params.get("text")) for c in self.calls
                if c.method in ("sendMessage", "editMessageText") and int(c.params.get("chat_id", 0)) == chat_id]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        return self._messages[(chat_id, message_id)]

    def last_message(self, chat_id: int) -> dict[str, Any]:
        ids = [mid for (cid, mid) in self._messages if cid == chat_id]
        return self._messages[(chat_id, max(ids))]

    async def deliver(self, update: dict[str, Any], *, secret: str | EllipsisType | None = ...,
                      url: str | None = None) -> int:
        """Hand an update to the bot: POST it to the webhook (returns the HTTP status) or queue it
        for getUpdates (returns 200). ``secret`` overrides the header (None leaves it out); ``url``
        posts to another webhook (a second process serving the same bot)."""
        update.setdefault("update_id", next(self._update_ids))
        url = url or self.webhook_url
        if url is None:
            self._updates.append(update)
            self._event().set()
            return 200
        headers = {}
        token = self.webhook_secret if secret is ... else secret
        if token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        session = self._session or aiohttp.ClientSession()
        try:
            async with session.post(url, json=update, headers=headers) as resp:
                return resp.status
        finally:
            if session is not self._session:
                await session.close()


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


def _check_markup(markup: Any) -> None:
    if not isinstance(markup, dict):
        return
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


async def _read_params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    raw: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        raw.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _STRING_PARAMS:
            params[key] = value
            continue
        try:
            params[key] = json.loads(value)
        except (TypeError, ValueError):
            params[key] = value
    return params


def _private_chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "private", "first_name": "Citizen"}


# --- updates as Telegram sends them ----------------------------------------------------------


def user(chat_id: int, language_code: str | None = "uz") -> dict[str, Any]:
    u: dict[str, Any] = {"id": chat_id, "is_bot": False, "first_name": "Citizen"}
    if language_code:
        u["language_code"] = language_code
    return u


_incoming_ids = itertools.count(100000)


def message_update(chat_id: int, **content: Any) -> dict[str, Any]:
    return {"message": {"message_id": next(_incoming_ids), "date": int(time.time()),
                        "chat": _private_chat(chat_id), "from": user(chat_id), **content}}


def text_update(chat_id: int, text: str) -> dict[str, Any]:
    content: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return message_update(chat_id, **content)


def contact_update(chat_id: int, phone: str, *, user_id: int | None = None) -> dict[str, Any]:
    contact: dict[str, Any] = {"phone_number": phone, "first_name": "Citizen"}
    if user_id is not None:
        contact["user_id"] = user_id
    return message_update(chat_id, contact=contact)


def sticker_update(chat_id: int) -> dict[str, Any]:
    return message_update(chat_id, sticker={"file_id": "CAAC", "file_unique_id": "s1", "type": "regular",
                                            "width": 512, "height": 512, "is_animated": False,
                                            "is_video": False})


def photo_update(chat_id: int) -> dict[str, Any]:
    return message_update(chat_id, photo=[{"file_id": "AgAC", "file_unique_id": "p1", "width": 90,
                                           "height": 90}])


def voice_update(chat_id: int) -> dict[str, Any]:
    return message_update(chat_id, voice={"file_id": "AwAC", "file_unique_id": "v1", "duration": 3})


def callback_update(chat_id: int, message: dict[str, Any], data: str) -> dict[str, Any]:
    return {"callback_query": {"id": str(next(_incoming_ids)), "from": user(chat_id), "chat_instance": "ci",
                               "data": data, "message": message}}


async def serve_forever(host: str = "127.0.0.1", port: int = 8081, token: str | None = None,
                        latency: float = 0.0, started: Callable[[str, str], None] | None = None) -> None:
    """Run the fake server until cancelled (``spsr bot --fake-api``); once it listens, ``started``
    is told its base URL and token (by default they are printed, in English)."""
    fake = FakeBotApi(token=token or FakeBotApi.token, latency=latency)
    runner = web.AppRunner(fake.app())
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    url = f"http://{host}:{port}/bot"
    if started is None:
        print(f"fake Bot API on {url} — token {fake.token}", flush=True)
    else:
        started(url, fake.token)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
