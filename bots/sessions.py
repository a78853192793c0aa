"""A Telegram chat's state, kept in ``channel_sessions`` so it survives restarts and is shared.

Two rows per chat: ``tg:<chat_id>`` is the flow's conversation, owned by the runner
(``core.services.conversations``); ``tgbot:<chat_id>`` is the bot's own: the chat's language, its
verified phone, the screen last shown and its ``version``. The version grows with every screen;
buttons carry it, so a button from an older screen is recognised and answered politely.

The same row counts the chat's updates for the flood limit (``count_update``), so the limit holds
across every process serving the webhook, not per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.storage.schema import ChannelSession
from core.storage.uow import UnitOfWork

FLOOD_KEY = "flood"


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
    stage: str = "new"  # new | language | asked_phone | pick_household
    screen: dict[str, Any] | None = None  # the last screen shown, for re-showing it
    screen_message_id: int | None = None
    at: str | None = None  # the flow's node on the screen last shown
    # A verified phone registered for several households, waiting for the person to pick one.
    pending: dict[str, Any] | None = None

    @property
    def linked(self) -> bool:
        return self.household_id is not None

    def to_state(self) -> dict[str, Any]:
        return {"v": self.version, "stage": self.stage, "screen": self.screen,
                "msg": self.screen_message_id, "household_id": self.household_id, "at": self.at, "pending": self.pending}

    @classmethod
    def from_row(cls, row: ChannelSession, chat_id: int) -> ChatSession:
        s = row.state or {}
        return cls(chat_id=chat_id, language=row.language, phone=row.phone,
                   household_id=s.get("household_id"), version=int(s.get("v", 0)),
                   stage=str(s.get("stage", "new")),
                   screen=s.get("screen"), screen_message_id=s.get("msg"), at=s.get("at"),
                   pending=s.get("pending"))


async def _locked_row(uow: UnitOfWork, chat_id: int) -> ChannelSession:
    """The chat's ``tgbot:`` row, created when missing, locked for this transaction (PostgreSQL)."""
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
    return row


async def chosen_language(uow: UnitOfWork, chat_id: int) -> str | None:
    """The language the chat chose in the bot, read without locking or creating its row."""
    row = await uow.session.get(ChannelSession, session_key(chat_id))
    return row.language if row is not None else None


async def load(uow: UnitOfWork, chat_id: int) -> ChatSession:
    """The chat's session, locked for this transaction where the database can (PostgreSQL)."""
    return ChatSession.from_row(await _locked_row(uow, chat_id), chat_id)


@dataclass(frozen=True)
class Pace:
    """Whether one more update from a chat is within its flood limit."""

    allowed: bool
    tell: bool  # the first update over the limit in this window: say "slow down" once
    language: str | None


async def count_update(uow: UnitOfWork, chat_id: int, now: float, *, window: float, limit: int) -> Pace:
    """Count one update from ``chat_id`` in a fixed window of ``window`` seconds starting at its first.

    Kept in the chat's row under the row lock, so every process serving the webhook counts the
    same updates and the limit holds across them.
    """
    row = await _locked_row(uow, chat_id)
    state = dict(row.state or {})
    flood = state.get(FLOOD_KEY) or {}
    start, count = float(flood.get("t", 0.0)), int(flood.get("n", 0))
    if not start <= now < start + window:
        start, count = now, 0
    count += 1
    state[FLOOD_KEY] = {"t": start, "n": count}
    row.state = state
    return Pace(count <= limit, count == limit + 1, row.language)


async def next_version(uow: UnitOfWork, chat_id: int) -> int:
    """The version for a new screen of the chat, taken under the row lock: two processes showing
    screens to one chat at once never give their buttons the same version."""
    row = await _locked_row(uow, chat_id)
    state = dict(row.state or {})
    version = int(state.get("v", 0)) + 1
    row.state = {**state, "v": version}
    return version


async def save(uow: UnitOfWork, chat: ChatSession, *, last_input: str | None = None) -> None:
    """Store the turn's view of the chat (after ``load`` in the same transaction)."""
    row = await uow.session.get(ChannelSession, session_key(chat.chat_id))
    assert row is not None, "load() creates the row"
    stored = row.state or {}
    state = chat.to_state()
    if int(stored.get("v", 0)) > chat.version:
        # Another process showed a newer screen meanwhile: that screen is the one on the person's
        # latest buttons, so it stays; this turn adds only what it learnt (language, phone, link).
        state.update({key: stored.get(key) for key in ("v", "screen", "msg", "at")})
    # The flood count moves under its own lock (count_update): keep the latest, not this turn's copy.
    if stored.get(FLOOD_KEY):
        state[FLOOD_KEY] = stored[FLOOD_KEY]
    row.state = state
    row.language = chat.language
    row.phone = chat.phone
    row.hops = (row.hops or 0) + 1
    row.updated_at = uow.now()
    row.ended = False
    if last_input is not None:
        # Typed text may be personal (a PINFL): keep only its length.
        row.last_input = f"<{len(last_input)} chars>"
