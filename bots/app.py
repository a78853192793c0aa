"""The Telegram bot: one ``Application`` built here, its handlers, one callback per kind of update.

Every handler translates an update into text for the flow runner (``bots.conversation``) and lays
the returned screen out as messages and buttons (``bots.render``). No flow logic lives here: the
bot itself only asks for the phone (Telegram's ``request_contact``), links it, and answers input
it cannot pass on (stickers, old buttons, text where a button is expected).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, TypeAlias

from telegram import (
    BotCommand,
    BotCommandScopeDefault,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    JobQueue,
    MessageHandler,
    TypeHandler,
    filters,
)

from bots import conversation, sessions
from bots.linking import Household, describe, households_for_contact, link_chat, set_contact_language, unblock
from bots.render import BACK_KEY, HOME_KEY, callback_data, layout, parse_callback, split_text
from core.errors import DomainError
from core.i18n import N_, SUPPORTED, Words, _, current_locale, normalise_locale, use_locale
from core.identity import Msisdn
from core.services import outbox
from core.services.messages import error_text
from core.storage.uow import Core

log = logging.getLogger("spsr.bot")

CORE_KEY = "core"
REPLY_TEMPLATE = "telegram.reply"  # a reply Telegram asked to hold back: its text (and buttons) kept as sent
FLOOD_WINDOW = 10.0  # seconds
FLOOD_LIMIT = 12  # updates per window from one chat before the bot asks it to slow down
HOUSEHOLD_KEY = "h"  # button keys "h0", "h1", …: the household picked among a phone's several
# Home-menu choices that need a linked phone (codes from core.flows.citizen.HOME_OPTIONS). Applying
# does too: the registry takes an application only from the family's own phone, so without it the
# PINFL would be answered with a dead end ("call 1140").
LINKED_ONLY = ("apply", "status", "payment", "grievance")
ENGINE_RESERVED = ("0", "00", "99")

ASK_PHONE = N_("To apply for assistance or see your application, payments and grievances, share your "
               "phone number with the button below. Help (/help) is open without it.")
SHARE_PHONE = N_("Share my phone number")
LINKED = N_("Thank you! Your phone is linked. Notices about your family will come here.")
NOT_OWN_CONTACT = N_("Please share your own phone number with the button below, not someone else's contact.")
NEEDS_PHONE = N_("This is open after you share your phone number with the button below.")
USE_BUTTONS = N_("Please choose with the buttons.")
ONLY_TEXT = N_("I can read only text and buttons. Please choose with the buttons.")
OLD_BUTTON = N_("This button is from an earlier message. Please use the latest one.")
SLOW_DOWN = N_("You are sending messages too quickly. Please wait a moment.")
PICK_HOUSEHOLD = N_("This phone number is registered for several families. Which family is this chat for? "
                    "Notices about the other families will keep coming by SMS; to switch, share your "
                    "number again.")
CANCELLED = N_("Cancelled. Back to the main menu.")
HELP_TEXT = N_("This bot of the Social Protection Single Registry lets you apply for assistance, check "
               "your application, see your next payment and raise a grievance.\n\n"
               "/start — start over\n/language — change the language\n/help — this help\n"
               "/cancel — stop and go to the main menu\n\nHotline of the Inson centres: 1140.")
COMMANDS = (
    ("start", N_("Start over")),
    ("language", N_("Change the language")),
    ("help", N_("Help")),
    ("cancel", N_("Stop and go to the main menu")),
)


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The callback context with the core's handles."""

    @property
    def core(self) -> Core:
        core: Core = self.application.bot_data[CORE_KEY]
        return core


# What ``build_application`` builds: python-telegram-bot's default bot and data types with our context.
# (The builder types its job queue with the default context; without APScheduler it is None at run time.)
BotApplication: TypeAlias = Application[
    ExtBot[None], BotContext, dict[Any, Any], dict[Any, Any], dict[Any, Any],
    JobQueue[CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]],
]


def build_application(core: Core, token: str, *, base_url: str | None = None, webhook: bool = True) -> BotApplication:
    """The bot, built in one place; ``webhook`` leaves the updater out (updates come from aiohttp)."""
    builder = ApplicationBuilder().token(token).context_types(ContextTypes(context=BotContext))
    if base_url:
        base = base_url.rstrip("/")
        if not base.endswith("/bot"):
            base += "/bot"
        builder = builder.base_url(base).base_file_url(base.removesuffix("/bot") + "/file/bot")
    if webhook:
        builder = builder.updater(None)
    application = builder.build()
    application.bot_data[CORE_KEY] = core
    # Before every other handler: a chat over its flood limit goes no further.
    application.add_handler(TypeHandler(Update, on_any_update), group=-1)
    application.add_handler(CommandHandler("start", on_start))
    application.add_handler(CommandHandler("language", on_language))
    application.add_handler(CommandHandler("help", on_help))
    application.add_handler(CommandHandler("cancel", on_cancel))
    # New messages only: an edit of one already answered (or a channel post) is not a new step of
    # the conversation, and the handlers read ``update.message``.
    new = filters.UpdateType.MESSAGE
    application.add_handler(MessageHandler(new & filters.CONTACT, on_contact))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(MessageHandler(new & filters.TEXT & ~filters.COMMAND, on_text))
    application.add_handler(MessageHandler(new, on_other))
    application.add_error_handler(on_error)
    return application


async def set_commands(application: BotApplication) -> None:
    """The command menu in each language: uz and ru by language_code, Karakalpak as the default."""
    for locale, code in (("kaa", None), ("uz", "uz"), ("ru", "ru")):
        with use_locale(locale):
            commands = [BotCommand(name, _(desc)) for name, desc in COMMANDS]
        await application.bot.set_my_commands(commands, scope=BotCommandScopeDefault(), language_code=code)


# --- sending -------------------------------------------------------------------------------------


async def send(context: BotContext, chat_id: int, text: str, markup: Any = None) -> Message | None:
    """Send one message; when Telegram says slow down, the outbox delivers it (and its buttons)
    after ``retry_after`` instead, ahead of notices."""
    try:
        return await context.bot.send_message(chat_id, text, reply_markup=markup)
    except RetryAfter as exc:
        await _queue_reply(context.core, chat_id, text, markup, _seconds(exc.retry_after))
    except Forbidden:
        log.info("chat %s blocked the bot", chat_id)
    return None


async def _queue_reply(core: Core, chat_id: int, text: str, markup: Any, wait: float) -> None:
    async with core.uow() as uow:
        route = outbox.Route("telegram", None, chat_id, current_locale())
        params = {"markup": markup.to_dict()} if markup is not None else {}
        message = await outbox.enqueue(uow, REPLY_TEMPLATE, params, route=route, priority=outbox.PRIORITY_REPLY)
        assert message is not None
        message.text = text
        message.next_attempt_at = uow.now() + dt.timedelta(seconds=wait)
        await uow.commit()


async def _next_version(core: Core, chat_id: int) -> int:
    async with core.uow() as uow:
        version = await sessions.next_version(uow, chat_id)
        await uow.commit()
    return version


def _seconds(retry_after: dt.timedelta | float) -> float:
    return retry_after.total_seconds() if isinstance(retry_after, dt.timedelta) else float(retry_after)


async def _answer(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a pressed button (stops its spinner); a nicety that must not stop the turn."""
    try:
        await query.answer(text)
    except TelegramError as exc:
        log.info("could not answer a button: %s", exc)


async def show_screen(context: BotContext, chat: sessions.ChatSession, screen: dict[str, Any],
                      edit: Message | None = None) -> None:
    """Lay out a flow screen; a pressed button's message becomes the new screen where it fits."""
    chat.version = await _next_version(context.core, chat.chat_id)
    plan = layout(screen, chat.version)
    chat.screen = screen
    sent: Message | None = None
    if edit is not None and len(plan.parts) == 1:
        try:
            result = await context.bot.edit_message_text(plan.parts[0], chat_id=chat.chat_id,
                                                         message_id=edit.message_id, reply_markup=plan.keyboard)
            sent = result if isinstance(result, Message) else edit
        except (BadRequest, RetryAfter):
            sent = None  # not editable (or Telegram says wait): a new message, queued if need be
    if sent is None:
        if edit is not None:
            await _strip_keyboard(context, chat.chat_id, edit.message_id)
        for i, part in enumerate(plan.parts):
            last = i == len(plan.parts) - 1
            sent = await send(context, chat.chat_id, part, plan.keyboard if last else None)
    chat.screen_message_id = sent.message_id if sent is not None else None


async def _strip_keyboard(context: BotContext, chat_id: int, message_id: int) -> None:
    try:
        await context.bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id, reply_markup=None)
    except TelegramError:
        pass  # already gone or too old: nothing to tidy


def _phone_keyboard() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup([[KeyboardButton(_(SHARE_PHONE), request_contact=True)]],
                               resize_keyboard=True, one_time_keyboard=True)


# --- the chat's state around each update ---------------------------------------------------------


class _Turn:
    """One update's work on one chat: load the bot's row, act in its language, save it."""

    def __init__(self, update: Update, context: BotContext) -> None:
        self.update = update
        self.context = context
        assert update.effective_chat is not None
        self.chat_id = update.effective_chat.id
        self.chat: sessions.ChatSession
        self._locale: Any = None

    async def __aenter__(self) -> _Turn:
        async with self.context.core.uow() as uow:
            self.chat = await sessions.load(uow, self.chat_id)
            await uow.commit()
        user = self.update.effective_user
        language = self.chat.language or normalise_locale(user.language_code if user else None)
        self._locale = use_locale(language)
        self._locale.__enter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._locale.__exit__(None, None, None)
        async with self.context.core.uow() as uow:
            await sessions.load(uow, self.chat_id)
            await sessions.save(uow, self.chat)
            if self.chat.linked:
                # Writing to the bot again undoes a block: Telegram takes notices back from SMS.
                await unblock(uow, self.chat_id)
            await uow.commit()

    def relocale(self) -> None:
        self._locale.__exit__(None, None, None)
        self._locale = use_locale(self.chat.language)
        self._locale.__enter__()

    async def say(self, text: str, markup: Any = None) -> None:
        for i, part in enumerate(split_text(text)):
            await send(self.context, self.chat_id, part, markup if i == len(split_text(text)) - 1 else None)

    async def hop(self, text: str | None, edit: Message | None = None, *, start_in: str | None = None) -> None:
        """Pass ``text`` to the flow and show what comes back; None starts over, at the language menu
        or, with ``start_in``, at the main menu in that language."""
        core = self.context.core
        language = self.chat.language if text is not None else start_in
        turn = await conversation.hop(core, self.chat_id, self.chat.phone, text, self.update.update_id, language)
        self.chat.at = turn.at
        if turn.at != "language" and turn.language in SUPPORTED and turn.language != self.chat.language:
            self.chat.language = turn.language
            self.relocale()
            if self.chat.linked:
                async with core.uow() as uow:
                    await set_contact_language(uow, self.chat_id, turn.language)
                    await uow.commit()
        await show_screen(self.context, self.chat, turn.screen, edit)
        if self.chat.language and not self.chat.linked and self.chat.stage != "asked_phone":
            self.chat.stage = "asked_phone"
            await self.say(_(ASK_PHONE), _phone_keyboard())

    async def linked(self, phone: Msisdn, household_id: int) -> None:
        """The chat is linked: thank the person and show the main menu."""
        self.chat.phone = phone.e164
        self.chat.household_id = household_id
        self.chat.pending = None
        self.chat.stage = "linked"
        await self.say(_(LINKED), ReplyKeyboardRemove())
        await self.hop(HOME_KEY)

    async def ask_household(self, phone: Msisdn, choices: list[Household]) -> None:
        """Several families share the phone: ask which one this chat is for (buttons carry an index)."""
        self.chat.version = await _next_version(self.context.core, self.chat_id)
        self.chat.pending = {"phone": phone.e164, "households": [c.id for c in choices]}
        self.chat.stage = "pick_household"
        keyboard = InlineKeyboardMarkup([
            [InlineKeyboardButton(c.label, callback_data=callback_data(self.chat.version, f"{HOUSEHOLD_KEY}{i}"))]
            for i, c in enumerate(choices)])
        # The share-phone keyboard was one-time: it is gone, and this message can carry the choice.
        await send(self.context, self.chat_id, _(PICK_HOUSEHOLD), keyboard)

    async def pick_household(self, index: str, message: Any) -> None:
        pending = self.chat.pending or {}
        households = pending.get("households") or []
        if not index.isdigit() or int(index) >= len(households):
            return
        phone, household_id = Msisdn.parse(str(pending["phone"])), int(households[int(index)])
        try:
            async with self.context.core.uow() as uow:
                await link_chat(uow, self.chat_id, phone, household_id, self.chat.language)
                await uow.commit()
        except DomainError as exc:  # the registry changed the family's phone meanwhile
            self.chat.pending = None
            await self.say(error_text(exc.code, exc.params), _phone_keyboard())
            return
        if isinstance(message, Message):
            await _strip_keyboard(self.context, self.chat_id, message.message_id)
        await self.linked(phone, household_id)

    async def gated(self, key: str) -> bool:
        """True (and the person told why) when ``key`` picks a home choice that needs the phone."""
        if self.chat.linked or key in ENGINE_RESERVED:
            return False
        if self.chat.at != "home":
            return False
        from core.flows.citizen import HOME_OPTIONS

        codes = [code for code, _label in HOME_OPTIONS]
        if key.isdigit() and 1 <= int(key) <= len(codes) and codes[int(key) - 1] in LINKED_ONLY:
            await self.say(_(NEEDS_PHONE), _phone_keyboard())
            return True
        return False


# --- handlers ------------------------------------------------------------------------------------


async def on_any_update(update: Update, context: BotContext) -> None:
    """The flood limit, counted in the database so it holds across processes: a chat over it is
    told once to slow down (a pressed button always gets its answer) and its update goes no further."""
    chat = update.effective_chat
    if chat is None:
        return
    core = context.core
    async with core.uow() as uow:
        pace = await sessions.count_update(uow, chat.id, core.clock.now().timestamp(),
                                           window=FLOOD_WINDOW, limit=FLOOD_LIMIT)
        await uow.commit()
    if pace.allowed:
        return
    user = update.effective_user
    with use_locale(pace.language or normalise_locale(user.language_code if user else None)):
        if update.callback_query is not None:
            await _answer(update.callback_query, _(SLOW_DOWN))
        elif pace.tell:
            await send(context, chat.id, _(SLOW_DOWN))
    log.info("chat %s over its flood limit: update %s refused", chat.id, update.update_id)
    raise ApplicationHandlerStop


async def on_start(update: Update, context: BotContext) -> None:
    """/start: the language menu (the flow's own), then the phone."""
    async with _Turn(update, context) as turn:
        turn.chat.stage = "language"
        turn.chat.pending = None
        await turn.hop(None)


async def on_language(update: Update, context: BotContext) -> None:
    """/language: the flow's language menu, at any time."""
    async with _Turn(update, context) as turn:
        await turn.hop(None)


async def on_help(update: Update, context: BotContext) -> None:
    """/help: public help, open to everyone."""
    async with _Turn(update, context) as turn:
        await turn.say(_(HELP_TEXT))


async def on_cancel(update: Update, context: BotContext) -> None:
    """/cancel: back to the flow's main menu."""
    async with _Turn(update, context) as turn:
        await turn.say(_(CANCELLED), ReplyKeyboardRemove() if turn.chat.linked else None)
        if turn.chat.language:
            # Started over in the chat's language: after /language the flow itself has none yet.
            await turn.hop(None, start_in=turn.chat.language)
        else:
            await turn.hop(HOME_KEY)


async def on_contact(update: Update, context: BotContext) -> None:
    """A shared contact: accepted only when it is the sender's own and registered for a family;
    a phone registered for several families asks which one this chat is for."""
    assert update.message is not None and update.message.contact is not None
    contact = update.message.contact
    sender = update.effective_user
    async with _Turn(update, context) as turn:
        try:
            async with context.core.uow() as uow:
                phone, households = await households_for_contact(uow, sender.id if sender else 0,
                                                                 contact.user_id, contact.phone_number)
                if len(households) > 1:
                    choices = await describe(uow, households, turn.chat.language or "uz")
                else:
                    await link_chat(uow, turn.chat_id, phone, households[0], turn.chat.language)
                await uow.commit()
        except DomainError as exc:
            if exc.code == "telegram.contact_not_own":
                await turn.say(_(NOT_OWN_CONTACT), _phone_keyboard())
            else:
                await turn.say(error_text(exc.code, exc.params), ReplyKeyboardRemove())
            return
        if len(households) > 1:
            await turn.ask_household(phone, choices)
            return
        await turn.linked(phone, households[0])


async def on_button(update: Update, context: BotContext) -> None:
    """An inline button: its key goes to the flow, unless the button is from an older screen."""
    query = update.callback_query
    assert query is not None
    async with _Turn(update, context) as turn:
        parsed = parse_callback(query.data)
        if parsed is None or parsed[0] != turn.chat.version:
            await _answer(query, _(OLD_BUTTON))
            return
        await _answer(query)
        key = parsed[1]
        if key.startswith(HOUSEHOLD_KEY):
            await turn.pick_household(key.removeprefix(HOUSEHOLD_KEY), query.message)
            return
        if await turn.gated(key):
            return
        message = query.message if isinstance(query.message, Message) else None
        await turn.hop(key, edit=message)


async def on_text(update: Update, context: BotContext) -> None:
    """Typed text: the answer to a free-text screen, or a number from the screen's options."""
    assert update.message is not None and update.message.text is not None
    text = update.message.text.strip()
    async with _Turn(update, context) as turn:
        screen = turn.chat.screen
        if screen is None:
            await turn.hop(None)
            return
        keys = {str(k) for k, _label in screen.get("options", [])} | {BACK_KEY, HOME_KEY}
        if screen.get("free_text") or text in keys or screen.get("end"):
            if await turn.gated(text):
                return
            await turn.hop(text)
            return
        plan = layout(screen, turn.chat.version)
        await turn.say(_(USE_BUTTONS), plan.keyboard)


async def on_other(update: Update, context: BotContext) -> None:
    """Stickers, photos, voice, unknown commands: a short answer in the person's language."""
    if update.effective_chat is None:
        return
    async with _Turn(update, context) as turn:
        screen = turn.chat.screen
        markup: InlineKeyboardMarkup | None = layout(screen, turn.chat.version).keyboard if screen else None
        await turn.say(_(ONLY_TEXT), markup)


async def on_error(update: object, context: BotContext) -> None:
    """Log the failure and tell the person, in their language, to try again later."""
    log.error("update %s failed", getattr(update, "update_id", "?"), exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    user = update.effective_user
    language = await _chosen_language(context.core, update.effective_chat.id)
    with use_locale(language or (user.language_code if user else None)):
        text = _(Words.UNAVAILABLE)
    try:
        await context.bot.send_message(update.effective_chat.id, text)
    except TelegramError:
        pass


async def _chosen_language(core: Core, chat_id: int) -> str | None:
    """The language the person chose in the bot, which may differ from their Telegram app's;
    None when the database, perhaps the very cause of the failure, cannot say."""
    try:
        async with core.uow() as uow:
            return await sessions.chosen_language(uow, chat_id)
    except Exception:
        log.warning("could not read chat %s's language for the apology", chat_id, exc_info=True)
        return None
