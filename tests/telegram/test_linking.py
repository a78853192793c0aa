"""Linking a chat by the person's own contact, in each language; the commands and their menus."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import select, update

from bots.app import CANCELLED, COMMANDS, HELP_TEXT, LINKED, OLD_BUTTON, PICK_HOUSEHOLD, USE_BUTTONS
from core.i18n import _, use_locale
from core.services import outbox
from core.services.messages import error_text
from core.storage.schema import AuditEntry, ChannelSession, Contact, Person
from tests.storage.factories import make_family
from tests.telegram.conftest import CHAT, SECRET, Harness

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


async def test_a_forged_webhook_without_the_secret_is_refused(bot: Harness) -> None:
    from tests.telegram.fake_bot_api import text_update

    assert await bot.fake.deliver(text_update(CHAT, "/start"), secret=None) == 403
    assert await bot.fake.deliver(text_update(CHAT, "/start"), secret="guess") == 403
    assert await bot.fake.deliver(text_update(CHAT, "/start"), secret=SECRET + "x") == 403
    await bot.settle()
    assert bot.fake.sent(CHAT) == []
    # The same update with the secret is served.
    assert await bot.send(text_update(CHAT, "/start")) == 200
    assert bot.buttons()[:3] == ["Oʻzbekcha", "Qaraqalpaqsha", "Русский"]




LANGS = [("Oʻzbekcha", "uz"), ("Qaraqalpaqsha", "kaa"), ("Русский", "ru")]


def said(code: str, msgid: str) -> str:
    with use_locale(code):
        return _(msgid)


async def test_command_menu_per_language(bot: Harness) -> None:
    """uz and ru by language_code; Karakalpak (no code in Telegram) as the default menu."""
    menus = bot.fake.commands
    assert set(menus) == {("default", ""), ("default", "uz"), ("default", "ru")}
    for code, key in (("kaa", ""), ("uz", "uz"), ("ru", "ru")):
        assert [c["command"] for c in menus[("default", key)]] == [name for name, _desc in COMMANDS]
        assert [c["description"] for c in menus[("default", key)]] == [said(code, d) for _n, d in COMMANDS]
    assert len({menus[("default", k)][0]["description"] for k in ("", "uz", "ru")}) == 3


@pytest.mark.parametrize(("language", "code"), LANGS)
async def test_help_and_cancel_in_each_language(bot: Harness, language: str, code: str) -> None:
    await bot.say("/help")  # before any language is chosen: the Telegram app's language (uz here)
    assert bot.last_text() == said("uz", HELP_TEXT)
    await bot.say("/start")
    await bot.press(language)
    await bot.say("/help")
    assert bot.last_text() == said(code, HELP_TEXT)
    assert "/language" in bot.last_text() and "1140" in bot.last_text()
    await bot.press(bot.buttons()[0])  # Apply: asks for a PINFL
    await bot.say("/cancel")
    texts = bot.fake.texts(CHAT)
    assert said(code, CANCELLED) in texts[-2:]
    home = bot.buttons()
    await bot.say("31403855310029")  # not read as a PINFL any more: the main menu wants a button
    assert bot.last_text() == said(code, USE_BUTTONS)
    assert bot.buttons() == home


@pytest.mark.parametrize(("language", "code"), LANGS)
async def test_cancel_after_the_language_menu_goes_to_the_main_menu(bot: Harness, language: str, code: str) -> None:
    await bot.say("/start")
    await bot.press(language)
    home = bot.buttons()
    await bot.say("/language")  # the language menu, and the flow's session starts over
    assert bot.buttons() != home
    await bot.say("/cancel")
    assert said(code, CANCELLED) in bot.fake.texts(CHAT)[-2:]
    assert bot.buttons() == home  # the main menu in the chosen language, not the language menu again


@pytest.mark.parametrize(("language", "code"), LANGS)
async def test_language_changes_at_any_time_and_notices_follow(bot: Harness, language: str, code: str) -> None:
    household_id, _head = await make_family(bot.core, phone=PHONE)
    await bot.say("/start")
    await bot.press("Oʻzbekcha" if code != "uz" else "Русский")
    await bot.share(PHONE)
    await bot.say("/language")
    assert bot.buttons()[:3] == ["Oʻzbekcha", "Qaraqalpaqsha", "Русский"]
    await bot.press(language)
    await bot.say("/help")
    assert bot.last_text() == said(code, HELP_TEXT)
    assert (await contact(bot, household_id)).language == code
    async with bot.core.uow() as uow:
        row = await uow.session.get(ChannelSession, f"tgbot:{CHAT}")
        assert row is not None and row.language == code


@pytest.mark.parametrize(("language", "code"), LANGS)
async def test_a_phone_of_several_families_asks_which(bot: Harness, language: str, code: str) -> None:
    first, _ = await make_family(bot.core, phone=PHONE)
    second, _ = await make_family(bot.core, phone=PHONE, language="ru")
    async with bot.core.uow() as uow:  # the second family's head is someone else
        await uow.session.execute(update(Person).where(Person.household_id == second, Person.relation == "head")
                                  .values(given_name="Zulfiya", surname="Rahimova"))
        await uow.commit()
    await bot.say("/start")
    await bot.press(language)
    await bot.share(PHONE)
    assert bot.last_text() == said(code, PICK_HOUSEHOLD)
    # The head's masked name and the mahalla: enough to recognise one's family.
    assert [b.split(", ")[0] for b in bot.buttons()] == ["Anvar K*****v", "Zulfiya R******a"]
    callback = bot.keyboard_message()["reply_markup"]["inline_keyboard"][1][0]["callback_data"]
    assert len(callback) < 12 and "Zulfiya" not in callback  # a short reference, never personal data
    assert (await contact(bot, first)).telegram_chat_id is None  # nothing linked before the choice
    await bot.press("Zulfiya")
    assert said(code, LINKED) in bot.fake.texts(CHAT)[-2:]
    c1, c2 = await contact(bot, first), await contact(bot, second)
    assert (c1.telegram_chat_id, c2.telegram_chat_id, c2.language) == (None, CHAT, code)
    # The choice's buttons are gone; sharing again lets the person switch.
    await bot.share(PHONE)
    await bot.press("Anvar")
    c1, c2 = await contact(bot, first), await contact(bot, second)
    assert (c1.telegram_chat_id, c2.telegram_chat_id) == (CHAT, None)
    # Notices: the chosen family on Telegram, the other by SMS.
    async with bot.core.uow() as uow:
        assert (await outbox.route_for_household(uow, first)).channel == "telegram"  # type: ignore[union-attr]
        assert (await outbox.route_for_household(uow, second)).channel == "sms"  # type: ignore[union-attr]


async def test_an_old_household_choice_is_refused(bot: Harness) -> None:
    await make_family(bot.core, phone=PHONE)
    await make_family(bot.core, phone=PHONE)
    await bot.say("/start")
    await bot.press("Русский")
    await bot.share(PHONE)
    choice = copy.deepcopy(bot.keyboard_message())
    await bot.press(bot.buttons()[0])
    await bot.press(choice["reply_markup"]["inline_keyboard"][1][0]["text"], message=choice)
    assert bot.fake.sent(method="answerCallbackQuery")[-1]["text"] == said("ru", OLD_BUTTON)


async def test_a_family_whose_phone_changed_before_the_choice_is_not_linked(bot: Harness) -> None:
    await make_family(bot.core, phone=PHONE)
    second, _ = await make_family(bot.core, phone=PHONE)
    await bot.say("/start")
    await bot.press("Qaraqalpaqsha")
    await bot.share(PHONE)
    async with bot.core.uow() as uow:  # the registry gives the second family another phone meanwhile
        await uow.session.execute(update(Contact).where(Contact.household_id == second)
                                  .values(phone="+998935550000"))
        await uow.commit()
    await bot.press(bot.buttons()[1])
    with use_locale("kaa"):
        assert bot.last_text() == error_text("phone.not_registered")
    assert (await contact(bot, second)).telegram_chat_id is None
