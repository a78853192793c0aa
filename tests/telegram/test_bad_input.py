"""Bad input in each language: stickers, photos, voice, someone else's contact, an unknown number,
text where a button is expected, an old button, a flood from one chat. Each gets a short answer in
the person's language; nothing crashes and nothing is lost."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt

import pytest

from bots.app import FLOOD_LIMIT, NOT_OWN_CONTACT, OLD_BUTTON, ONLY_TEXT, SLOW_DOWN, USE_BUTTONS
from core.i18n import Words, _, use_locale
from core.services.messages import error_text
from tests.storage.factories import make_family
from tests.telegram.conftest import CHAT, Harness
from tests.telegram.fake_bot_api import photo_update, sticker_update, text_update, voice_update

pytestmark = pytest.mark.postgres

PHONE = "+998901234567"
LANGS = [("Oʻzbekcha", "uz"), ("Qaraqalpaqsha", "kaa"), ("Русский", "ru")]
OTHER_CHAT = 555002


def said(code: str, msgid: str) -> str:
    with use_locale(code):
        return _(msgid)


async def started(bot: Harness, language: str, chat: int = CHAT) -> None:
    await bot.say("/start", chat)
    await bot.press(language, chat)


def test_the_answers_are_translated() -> None:
    for msgid in (ONLY_TEXT, USE_BUTTONS, OLD_BUTTON, SLOW_DOWN, NOT_OWN_CONTACT):
        assert len({said(code, msgid) for _label, code in LANGS}) == 3, msgid


@pytest.mark.parametrize(("language", "code"), LANGS)
async def test_stickers_photos_voice_and_stray_text(bot: Harness, language: str, code: str) -> None:
    await started(bot, language)
    before = len(bot.fake.texts(CHAT))
    for update in (sticker_update(CHAT), photo_update(CHAT), voice_update(CHAT)):
        assert await bot.send(update) == 200
    await bot.say("salom, menga pul kerak")  # text where a button is expected
    await bot.say("/nonsense")  # an unknown command
    assert bot.fake.texts(CHAT)[before:] == [said(code, ONLY_TEXT)] * 3 + [said(code, USE_BUTTONS),
                                                                          said(code, ONLY_TEXT)]
    # Each answer carries the screen's buttons again, so the person can go on.
    assert all("inline_keyboard" in m["reply_markup"] for m in bot.fake.sent(CHAT)[-5:])
    await bot.press(bot.buttons()[0])  # and the conversation goes on
    assert bot.keyboard_message()


@pytest.mark.parametrize(("language", "code"), LANGS)
async def test_someone_elses_contact_and_an_unknown_number(bot: Harness, language: str, code: str) -> None:
    await make_family(bot.core, phone=PHONE)
    await started(bot, language)
    await bot.share(PHONE, user_id=999)
    assert bot.last_text() == said(code, NOT_OWN_CONTACT)
    assert bot.fake.sent(CHAT)[-1]["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    await bot.share("+998 91 765 43 21")
    with use_locale(code):
        assert bot.last_text() == error_text("phone.not_registered")
    # Still open: apply without a phone.
    await bot.say("/cancel")
    assert bot.buttons()


@pytest.mark.parametrize(("language", "code"), LANGS)
async def test_an_old_button_gets_a_polite_answer(bot: Harness, language: str, code: str) -> None:
    await started(bot, language)
    old = copy.deepcopy(bot.keyboard_message())
    await bot.press(bot.buttons()[4])  # Language: the conversation moves on
    sent_before = len(bot.fake.sent(CHAT))
    await bot.press(old["reply_markup"]["inline_keyboard"][1][0]["text"], message=old)
    assert bot.fake.sent(method="answerCallbackQuery")[-1]["text"] == said(code, OLD_BUTTON)
    assert len(bot.fake.sent(CHAT)) == sent_before  # nothing else happened


async def test_a_forged_or_malformed_button_is_refused_quietly(bot: Harness) -> None:
    from tests.telegram.fake_bot_api import callback_update

    await started(bot, "Oʻzbekcha")
    message = bot.keyboard_message()
    for data in ("nonsense", "99999:1", ":", "1:" + "9" * 60):
        assert await bot.send(callback_update(CHAT, message, data)) == 200
    answers = bot.fake.sent(method="answerCallbackQuery")[-4:]
    assert [a["text"] for a in answers] == [said("uz", OLD_BUTTON)] * 4


@pytest.mark.parametrize(("language", "code"), LANGS)
async def test_a_flood_from_one_chat(bot: Harness, language: str, code: str) -> None:
    """50 messages in one second: the chat is told once to slow down, another chat is served."""
    await make_family(bot.core, phone=PHONE)
    await started(bot, language)  # two updates counted
    before = len(bot.fake.texts(CHAT))
    flood = [bot.fake.deliver(text_update(CHAT, f"salom {i}")) for i in range(50)]
    other = bot.fake.deliver(text_update(OTHER_CHAT, "/start"))
    statuses = await asyncio.gather(*flood[:25], other, *flood[25:])
    await bot.settle()
    assert set(statuses) == {200}
    # Another chat is served in the middle of the flood.
    assert bot.buttons(OTHER_CHAT)[:3] == ["Oʻzbekcha", "Qaraqalpaqsha", "Русский"]
    # Within the limit: each message answered; over it: one "slow down", in the chat's language.
    answers = bot.fake.texts(CHAT)[before:]
    assert answers.count(said(code, USE_BUTTONS)) == FLOOD_LIMIT - 2
    assert answers.count(said(code, SLOW_DOWN)) == 1
    assert len(answers) == FLOOD_LIMIT - 1
    # A flood of button presses: each press is answered (its spinner stops), no new messages.
    message = bot.keyboard_message()
    for _i in range(3):
        await bot.press(bot.buttons()[0], message=message)
    assert [a.get("text") for a in bot.fake.sent(method="answerCallbackQuery")[-3:]] == [said(code, SLOW_DOWN)] * 3
    assert len(bot.fake.texts(CHAT)[before:]) == FLOOD_LIMIT - 1
    # After the window the chat is served again.
    bot.core.clock.advance(dt.timedelta(seconds=11))  # type: ignore[attr-defined]
    await bot.share(PHONE)
    await bot.press(bot.buttons()[0])  # Apply: asks for the PINFL
    assert bot.fake.sent(method="answerCallbackQuery")[-1].get("text") is None
    await bot.say("salom")  # the flow reads it
    assert said(code, SLOW_DOWN) not in bot.last_text() and "14" in bot.last_text()


async def test_the_flood_limit_holds_across_processes(bot: Harness) -> None:
    """Two processes behind the webhook count one chat's updates together (in the database)."""
    second = await bot.second_process()
    urls = [str(bot.server.make_url("/telegram/webhook")) if bot.server else "",
            str(second.make_url("/telegram/webhook"))]
    await started(bot, "Русский")
    before = len(bot.fake.texts(CHAT))
    for i in range(2 * FLOOD_LIMIT):
        assert await bot.fake.deliver(text_update(CHAT, f"привет {i}"), url=urls[i % 2]) == 200
        await bot.settle()
    answers = bot.fake.texts(CHAT)[before:]
    assert answers.count(said("ru", USE_BUTTONS)) == FLOOD_LIMIT - 2
    assert answers.count(said("ru", SLOW_DOWN)) == 1


@pytest.mark.parametrize(("language", "code"), LANGS[1:])
async def test_a_failure_is_apologised_for_in_the_chats_language(bot: Harness, language: str, code: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The person's Telegram app is in Uzbek, but they chose another language in the bot."""
    await started(bot, language)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the registry is down")

    monkeypatch.setattr("bots.conversation.hop", broken)
    await bot.press(bot.buttons()[4])
    assert bot.last_text() == said(code, Words.UNAVAILABLE)


async def test_an_edited_message_is_not_a_new_step_and_crashes_nothing(bot: Harness) -> None:
    await started(bot, "Русский")
    before = list(bot.fake.texts(CHAT))
    edit = text_update(CHAT, "салом")
    edit["edited_message"] = {**edit.pop("message"), "edit_date": 1}
    assert await bot.send(edit) == 200
    assert bot.fake.texts(CHAT) == before  # no apology, no answer
    await bot.press(bot.buttons()[0])  # the conversation goes on
    assert len(bot.fake.texts(CHAT)) > len(before)
