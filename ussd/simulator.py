"""A USSD gateway simulator: what an operator's gateway does between a phone and our endpoint.

It dials a service code, sends each input as Africa's Talking does (``text`` = every input of the
session joined by ``*``), and enforces what real gateways enforce: a session lasts at most
``session_seconds``, each answer must come within ``step_seconds``, a screen may hold at most
``max_screen`` characters, and a reply must start with ``CON`` or ``END``. Breaking a rule ends
the session with the gateway's own message, as a phone would show it.
"""

from __future__ import annotations

import textwrap
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from core.gsm import ussd_length, ussd_limit

# (form) -> (HTTP status, body)
Post = Callable[[dict[str, str]], Awaitable[tuple[int, str]]]

GATEWAY_TIMEOUT = "Connection problem or invalid MMI code."
GATEWAY_TOO_LONG = "USSD reply too long: session ended by the network."
GATEWAY_ERROR = "USSD service unavailable. Please try again later."
GATEWAY_EXPIRED = "USSD session timed out."


@dataclass
class Screen:
    text: str
    end: bool
    gateway: bool = False  # the gateway's own message, not the service's


@dataclass
class UssdSession:
    post: Post
    phone: str
    service_code: str = "*1140#"
    session_seconds: float = 180.0
    step_seconds: float = 10.0
    max_screen: int = 182
    network_code: str = "63402"
    clock: Callable[[], float] = time.monotonic
    session_id: str = field(default_factory=lambda: "ATUid_" + uuid.uuid4().hex[:16])
    inputs: list[str] = field(default_factory=list)
    started: float | None = None
    ended: bool = False

    async def _send(self) -> Screen:
        form = {"sessionId": self.session_id, "serviceCode": self.service_code, "phoneNumber": self.phone,
                "networkCode": self.network_code, "text": "*".join(self.inputs)}
        begun = self.clock()
        try:
            status, body = await self.post(form)
        except TimeoutError:
            return self._end(GATEWAY_TIMEOUT)
        except OSError:
            return self._end(GATEWAY_ERROR)
        if self.clock() - begun > self.step_seconds:
            return self._end(GATEWAY_TIMEOUT)
        if status != 200:
            return self._end(GATEWAY_ERROR)
        if body.startswith("CON "):
            text, end = body[4:], False
        elif body.startswith("END "):
            text, end = body[4:], True
        else:
            return self._end(GATEWAY_ERROR)
        if ussd_length(text) > min(self.max_screen, ussd_limit(text)):
            return self._end(GATEWAY_TOO_LONG)
        self.ended = end
        return Screen(text, end)

    def _end(self, message: str) -> Screen:
        self.ended = True
        return Screen(message, True, gateway=True)

    async def dial(self) -> Screen:
        self.started = self.clock()
        return await self._send()

    async def reply(self, text: str) -> Screen:
        if self.ended:
            raise RuntimeError("the session has ended")
        if self.started is not None and self.clock() - self.started > self.session_seconds:
            return self._end(GATEWAY_EXPIRED)
        self.inputs.append(text)
        return await self._send()


def boxed(screen: Screen, width: int = 30, buttons: tuple[str, str, str] = ("OK", "Reply", "Cancel")) -> str:
    """A screen as a feature phone draws it: wrapped, in a box, with the reply prompt; ``buttons``
    are the phone's own words for OK, Reply and Cancel (in the language its owner set)."""
    lines: list[str] = []
    for line in screen.text.split("\n"):
        lines.extend(textwrap.wrap(line, width) or [""])
    top = "┌" + "─" * (width + 2) + "┐"
    bottom = "└" + "─" * (width + 2) + "┘"
    body = [f"│ {line.ljust(width)} │" for line in lines]
    ok, reply, cancel = buttons
    footer = f"  [{ok}]" if screen.end else f"  [{reply}] [{cancel}]"
    return "\n".join([top, *body, bottom, footer])


async def play(session: UssdSession, inputs: list[str]) -> str:
    """Dial, send each input in turn, and return the transcript (stops at the session's end)."""
    out = [f"### dial {session.service_code} from {session.phone}"]
    screen = await session.dial()
    out.append(_show(screen))
    for typed in inputs:
        if session.ended:
            break
        out.append(f">>> {typed}")
        screen = await session.reply(typed)
        out.append(_show(screen))
    return "\n".join(out) + "\n"


def _show(screen: Screen) -> str:
    kind = "GATEWAY" if screen.gateway else ("END" if screen.end else "CON")
    return f"[{kind}]\n{screen.text}"
