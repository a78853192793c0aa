"""The bot's per-chat state in the database, as two processes serving one chat see it."""

from __future__ import annotations

import pytest

from bots import sessions
from core.storage.uow import Core

pytestmark = pytest.mark.postgres

CHAT = 777001


async def test_two_processes_showing_screens_at_once_keep_the_newest(core: Core) -> None:
    async with core.uow() as uow:
        first = await sessions.load(uow, CHAT)  # process A's turn begins
        await uow.commit()
    async with core.uow() as uow:
        second = await sessions.load(uow, CHAT)  # process B's turn begins on the same state
        await uow.commit()
    for chat, title in ((first, "A"), (second, "B")):
        async with core.uow() as uow:
            chat.version = await sessions.next_version(uow, CHAT)
            await uow.commit()
        chat.screen, chat.screen_message_id = {"title": title}, {"A": 10, "B": 11}[title]
    assert (first.version, second.version) == (1, 2)  # never the same version on two keyboards
    second.language = "ru"
    for chat in (second, first):  # B saves first, A (with the older screen) last
        async with core.uow() as uow:
            await sessions.load(uow, CHAT)
            await sessions.save(uow, chat)
            await uow.commit()
    async with core.uow() as uow:
        stored = await sessions.load(uow, CHAT)
    assert (stored.version, stored.screen, stored.screen_message_id) == (2, {"title": "B"}, 11)


async def test_the_flood_count_is_shared_and_survives_a_turn_saving(core: Core) -> None:
    async with core.uow() as uow:
        chat = await sessions.load(uow, CHAT)
        await uow.commit()
    paces = []
    for _i in range(4):
        async with core.uow() as uow:
            paces.append(await sessions.count_update(uow, CHAT, 1000.0, window=10, limit=2))
            await uow.commit()
    async with core.uow() as uow:  # a turn that began before the updates saves its state
        await sessions.load(uow, CHAT)
        await sessions.save(uow, chat)
        await uow.commit()
    async with core.uow() as uow:
        fifth = await sessions.count_update(uow, CHAT, 1005.0, window=10, limit=2)
        later = await sessions.count_update(uow, CHAT, 1010.0, window=10, limit=2)
    assert [(p.allowed, p.tell) for p in paces] == [(True, False), (True, False), (False, True), (False, False)]
    assert (fifth.allowed, fifth.tell) == (False, False)
    assert (later.allowed, later.tell) == (True, False)  # a new window
