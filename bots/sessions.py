"""A Telegram chat's state, kept in ``channel_sessions`` so it survives restarts and is shared.

Two rows per chat: ``tg:<chat_id>`` is the flow's conversation, owned by the runner
(``core.services.conversations``); ``tgbot:<chat_id>`` is the bot's own: the chat's language, its
verified phone, the screen last shown and its ``version``. The version grows with every screen;
buttons carry it, so a button from an older screen is recognised and answered politely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.storage.schema import ChannelSession
from core.storage.uow import UnitOfWork


def flow_key(chat_id: int) -> str:
    return f"tg:{chat_id}"


def session_key(chat_id: int) -> str:
    return f"tgbot:{chat_id}"


@dataclass
class ChatSession:
    """The bot's view of one chat."""

    chat_id: int
    language: str | None = None
    phone: str | None = None
    household_id: int | None = None
    version: int = 0
    stage: str = "new"  # new | language | flow
    screen: dict[str, Any] | None = None  # the last screen shown, for re-showing it
    screen_message_id: int | None = None
    at: str | None = None  # the flow's node on the screen last shown

    @property
    def linked(self) -> bool:
        return self.household_id is not None

    def to_state(self) -> dict[str, Any]:
        return {"v": self.version, "stage": self.stage, "screen": self.screen,
                "msg": self.screen_message_id, "household_id": self.household_id, "at": self.at}

    @classmethod
    def from_row(cls, row: ChannelSession, chat_id: int) -> ChatSession:
        s = row.state or {}
        return cls(chat_id=chat_id, language=row.language, phone=row.phone,
                   household_id=s.get("household_id"), version=int(s.get("v", 0)),
                   stage=str(s.get("stage", "new")),
                   screen=s.get("screen"), screen_message_id=s.get("msg"), at=s.get("at"))


async def load(uow: UnitOfWork, chat_id: int) -> ChatSession:
    """The chat's session, locked for this transaction where the database can (PostgreSQL)."""
    key = session_key(chat_id)
    row = await uow.session.scalar(
        select(ChannelSession).where(ChannelSession.key == key).with_for_update()
    )
    if row is None:
        now = uow.now()
        row = ChannelSession(key=key, state={}, hops=0, created_at=now, updated_at=now, ended=False)
        try:
            async with uow.session.begin_nested():
                uow.session.add(row)
        except IntegrityError:  # another process created it meanwhile
            row = await uow.session.scalar(
                select(ChannelSession).where(ChannelSession.key == key).with_for_update()
            )
            assert row is not None
    return ChatSession.from_row(row, chat_id)


async def save(uow: UnitOfWork, chat: ChatSession, *, last_input: str | None = None) -> None:
    row = await uow.session.get(ChannelSession, session_key(chat.chat_id))
    assert row is not None, "load() creates the row"
    row.state = chat.to_state()
    row.language = chat.language
    row.phone = chat.phone
    row.hops = (row.hops or 0) + 1
    row.updated_at = uow.now()
    row.ended = False
    if last_input is not None:
        # Typed text may be personal (a PINFL): keep only its length.
        row.last_input = f"<{len(last_input)} chars>"
