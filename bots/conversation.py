"""The bot's one door into the citizen flows: ``core.services.conversations.hop`` (the runner).

The runner keeps the flow's state and language in ``channel_sessions`` under ``tg:<chat_id>``;
this module passes it the chat's text and verified phone and returns the screen as a dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete

from bots.sessions import flow_key
from core.services import conversations
from core.storage.schema import ChannelSession
from core.storage.uow import Core


@dataclass(frozen=True)
class Turn:
    screen: dict[str, Any]
    language: str
    at: str | None


async def hop(core: Core, chat_id: int, phone: str | None, text: str | None, hop_id: int | None,
              language: str | None = None) -> Turn:
    """One step of the chat's conversation; ``text=None`` starts a new one, at the main menu in
    ``language`` when given, else at the language menu. A conversation that has to start again on
    some other step (its session gone) starts in ``language`` too, rather than asking for it again."""
    key = flow_key(chat_id)
    if text is None:
        async with core.uow() as uow:
            await uow.session.execute(delete(ChannelSession).where(ChannelSession.key == key))
            await uow.commit()
        # A new conversation without a phone begins with the language menu.
        reply = await conversations.hop(core, key=key, phone=None, channel="telegram", text="",
                                        hop_id=None, language=language)
    else:
        reply = await conversations.hop(core, key=key, phone=phone, channel="telegram", text=text,
                                        hop_id=None if hop_id is None else f"tg{hop_id}", language=language)
    return Turn(dict(reply.screen.to_dict()), reply.language, await flow_node(core, chat_id))


async def flow_node(core: Core, chat_id: int) -> str | None:
    """Where the conversation stands (the engine's ``state["at"]``), for the public/linked gate."""
    async with core.uow() as uow:
        row = await uow.session.get(ChannelSession, flow_key(chat_id))
        if row is None:
            return None
        at = ((row.state or {}).get("flow") or {}).get("at")
        return str(at) if at else None
