"""Linking a chat by the person's own contact, in each language; bad input gets a short answer."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import select

from core.storage.schema import AuditEntry, Contact
from tests.storage.factories import make_family
from tests.telegram.conftest import CHAT, Harness
from tests.telegram.fake_bot_api import photo_update, sticker_update, voice_update

pytestmark = pytest.mark.postgres

PHONE = "+998901234567"


async def contact(h: Harness, household_id: int) -> Contact:
    async with h.core.uow() as uow:
        c = await uow.session.get(Contact, household_id)
        assert c is not None
        uow.session.expunge(c)
        return c


@pytest.mark.parametrize(("language", "linked_word"), [
    ("Oʻzbekcha", "bogʻlandi"), ("Qaraqalpaqsha", "baylanıs"), ("Русский", "привязан"),
])
async def test_start_language_then_own_contact_links_the_family(bot: Harness, language: str,
                                                                linked_word: str) -> None:
    household_id, _head = await make_family(bot.core, phone=PHONE)
    await bot.say("/start")
    assert bot.buttons()[:3] == ["Oʻzbekcha", "Qaraqalpaqsha", "Русский"]
    await bot.press(language)
    ask = bot.fake.sent(CHAT)[-1]
    assert ask["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    await bot.share("998 90 123 45 67")
    assert linked_word in bot.all_text()
    c = await contact(bot, household_id)
    assert c.telegram_chat_id == CHAT and c.telegram_blocked is False
    async with bot.core.uow() as uow:
        actions = (await uow.session.scalars(select(AuditEntry.action))).all()
    assert "contact.telegram_linked" in actions


async def test_someone_elses_contact_and_unknown_numbers_are_refused(bot: Harness) -> None:
    household_id, _head = await make_family(bot.core, phone=PHONE)
    await bot.say("/start")
    await bot.press("Русский")
    await bot.share(PHONE, user_id=999)
    assert "свой" in bot.last_text()
    await bot.share("+998 91 765 43 21")
    assert "1140" in bot.last_text()
    assert (await contact(bot, household_id)).telegram_chat_id is None


async def test_stickers_photos_voice_and_stray_text_get_short_answers(bot: Harness) -> None:
    await bot.say("/start")
    await bot.press("Oʻzbekcha")
    before = len(bot.fake.texts(CHAT))
    for update in (sticker_update(CHAT), photo_update(CHAT), voice_update(CHAT)):
        assert await bot.send(update) == 200
    await bot.say("salom")
    texts = bot.fake.texts(CHAT)[before:]
    assert len(texts) == 4
    assert all(len(t) < 200 for t in texts)


async def test_an_old_button_gets_a_polite_answer(bot: Harness) -> None:
    await bot.say("/start")
    old = copy.deepcopy(bot.keyboard_message())
    await bot.press("Oʻzbekcha")
    await bot.press("Oʻzbekcha", message=old)
    answer = bot.fake.sent(method="answerCallbackQuery")[-1]
    assert "tugma" in answer["text"]


async def test_a_forged_webhook_without_the_secret_is_refused(bot: Harness) -> None:
    from tests.telegram.fake_bot_api import text_update

    assert await bot.fake.deliver(text_update(CHAT, "/start"), secret=None) == 403
    assert await bot.fake.deliver(text_update(CHAT, "/start"), secret="guess") == 403
    assert bot.fake.sent(CHAT) == []


async def test_command_menu_per_language(bot: Harness) -> None:
    menus = bot.fake.commands
    assert {("default", ""), ("default", "uz"), ("default", "ru")} <= set(menus)
    assert [c["command"] for c in menus[("default", "ru")]] == ["start", "language", "help", "cancel"]
