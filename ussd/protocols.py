"""USSD gateway wire formats behind one small adapter, so another gateway can be added.

A :class:`Protocol` turns a gateway's request into a :class:`UssdHop` and a page of text into the
gateway's reply; nothing else in ``ussd/`` knows the format.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class UssdHop:
    session_id: str
    phone: str
    service_code: str
    text: str  # the new input of this hop ("" on the first)
    hop_id: str  # identifies the hop within the session: a repeat carries the same one


class Protocol(ABC):
    name: str
    joined_by: str | None = None  # hop_id is all the session's inputs joined by this

    @abstractmethod
    def parse(self, form: Mapping[str, str]) -> UssdHop | None:
        """The hop, or None when the request is not a well-formed one."""

    @abstractmethod
    def reply(self, text: str, end: bool) -> web.Response: ...


class AfricasTalking(Protocol):
    """Form fields sessionId, serviceCode, phoneNumber, networkCode, text (inputs joined by "*");
    the reply is text/plain ``CON …`` (more to come) or ``END …``."""

    name = "africastalking"
    joined_by = "*"

    def parse(self, form: Mapping[str, str]) -> UssdHop | None:
        session_id = (form.get("sessionId") or "").strip()
        phone = (form.get("phoneNumber") or "").strip()
        if not session_id or not phone or len(session_id) > 100:
            return None
        text = form.get("text") or ""
        return UssdHop(session_id, phone, (form.get("serviceCode") or "").strip(),
                       text.split("*")[-1] if text else "", text)

    def reply(self, text: str, end: bool) -> web.Response:
        return web.Response(text=("END " if end else "CON ") + text, content_type="text/plain", charset="utf-8")


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (AfricasTalking(),)}
