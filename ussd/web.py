"""The USSD and SMS endpoints of ``spsr serve``, and the SMS sender job.

Handlers only translate: a gateway's payload to a hop, the runner's page back to the gateway.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections import OrderedDict
from collections.abc import Mapping

from aiohttp import web

from core.errors import InvalidInput
from core.i18n import Words, _, use_locale
from core.identity import Msisdn
from core.services.conversations import hop
from spsr.server import CORE, SETTINGS
from ussd.layout import UssdPager
from ussd.protocols import PROTOCOLS

log = logging.getLogger("spsr.ussd")

SESSION_SECONDS = 180  # an operator drops a USSD session after at most 120-180 s
ANSWER_WITHIN = 1.8  # the gateway wants an answer within about 2 s
PAGER = UssdPager()
REMEMBERED = 50_000  # phones whose language this process keeps for its apologies (a few MB)


class Languages:
    """The language each recent phone was last answered in, so that when a hop fails (the
    database down or slow, the very store that holds the phone's language) the apology is still
    in the caller's language. Bounded: the least recently answered phone is forgotten first."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self._size = size
        self._by_phone: OrderedDict[str, str] = OrderedDict()

    def remember(self, phone: str, language: str) -> None:
        self._by_phone[phone] = language
        self._by_phone.move_to_end(phone)
        if len(self._by_phone) > self._size:
            self._by_phone.popitem(last=False)

    def of(self, phone: str) -> str | None:
        return self._by_phone.get(phone)


LANGUAGES = web.AppKey("ussd_languages", Languages)  # one per app, as the API's key cache


def allowed(request: web.Request) -> bool:
    """``?key=`` matching SPSR_USSD_KEY, or a client in SPSR_USSD_ALLOW; with neither, loopback only."""
    settings = request.app[SETTINGS]
    remote = request.remote or ""
    key = request.query.get("key", "")
    if settings.ussd_key and key and hmac.compare_digest(key.encode(), settings.ussd_key.encode()):
        return True
    if settings.ussd_allow:
        return remote in settings.ussd_allow
    if settings.ussd_key:
        return False
    try:
        return ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def text_fields(form: Mapping[str, object]) -> dict[str, str]:
    """A posted form's text fields, the first value of each name; a file or undecoded bytes are left out
    (the gateway posts a urlencoded form, where every value is text)."""
    fields: dict[str, str] = {}
    for name, value in form.items():
        if isinstance(value, str):
            fields.setdefault(name, value)
    return fields


async def ussd_hop(request: web.Request) -> web.Response:
    """One hop of a USSD session."""
    protocol = PROTOCOLS[request.match_info["protocol"]]
    if not allowed(request):
        return web.Response(status=403, text="forbidden")
    parsed = protocol.parse(text_fields(await request.post()))
    if parsed is None:
        return web.Response(status=400, text="missing sessionId or phoneNumber")
    try:
        phone = Msisdn.parse(parsed.phone).e164
    except InvalidInput:
        return protocol.reply(_(Words.UNAVAILABLE), end=True)
    try:
        reply = await asyncio.wait_for(hop(
            request.app[CORE], key=f"ussd:{parsed.session_id}", phone=phone, channel="ussd",
            text=parsed.text, hop_id=parsed.hop_id, pager=PAGER, ttl_seconds=SESSION_SECONDS,
            joined_by=protocol.joined_by,
        ), ANSWER_WITHIN)
    except Exception:  # a slow or failing database must still get the caller a polite END
        log.exception("USSD hop failed (session %s)", parsed.session_id)
        with use_locale(request.app[LANGUAGES].of(phone)):
            return protocol.reply(_(Words.UNAVAILABLE), end=True)
    request.app[LANGUAGES].remember(phone, reply.language)
    with use_locale(reply.language):
        return protocol.reply(reply.text or "", reply.end)


def mount(app: web.Application) -> None:
    app[LANGUAGES] = Languages()
    app.router.add_post("/ussd/{protocol:africastalking}", ussd_hop)
    from ussd import sms_web

    sms_web.mount(app)
