"""Linking a Telegram chat to a household by the phone number the person shared themselves."""

from __future__ import annotations

from sqlalchemy import select, update

from core.errors import Forbidden, NotFound
from core.identity import Msisdn
from core.services.registry import LANGUAGES, household_ids_for_phone
from core.storage.schema import Contact
from core.storage.uow import Actor, UnitOfWork

LINK_ERROR_CODES = ("telegram.contact_not_own", "phone.not_registered")


async def link_chat(uow: UnitOfWork, chat_id: int, sender_id: int, contact_user_id: int | None,
                    phone_text: str, language: str | None = None) -> tuple[Msisdn, list[int]]:
    """Link ``chat_id`` to the households registered under the shared phone.

    Only the sender's own contact counts (Telegram verified it); the number is normalised and must
    be a registered contact. Another chat linked to the same households is unlinked.
    """
    if contact_user_id is None or contact_user_id != sender_id:
        raise Forbidden("telegram.contact_not_own")
    phone = Msisdn.parse(phone_text)
    household_ids = await household_ids_for_phone(uow.session, phone.e164)
    if not household_ids:
        raise NotFound("phone.not_registered")
    s = uow.session
    now = uow.now()
    # telegram_chat_id is unique: free it from any household this chat was linked to before.
    await s.execute(update(Contact).where(Contact.telegram_chat_id == chat_id,
                                          Contact.household_id.not_in(household_ids))
                    .values(telegram_chat_id=None, updated_at=now))
    await s.flush()
    contacts = (await s.scalars(select(Contact).where(Contact.household_id.in_(household_ids))
                                .order_by(Contact.household_id))).all()
    actor = Actor("citizen", phone.e164, "telegram")
    # One chat can hold one contact row (unique); a phone registered for several households
    # links the first, and the others keep SMS.
    first = contacts[0]
    first.telegram_chat_id = chat_id
    first.telegram_blocked = False
    if language in LANGUAGES:
        first.language = language  # notices come in the language the person chose here
    first.updated_at = now
    uow.audit(actor, "contact.telegram_linked", "household", first.household_id, chat_id=chat_id)
    return phone, [first.household_id]


async def set_contact_language(uow: UnitOfWork, chat_id: int, language: str) -> None:
    """The person changed the language on Telegram: notices to their family follow it."""
    if language in LANGUAGES:
        await uow.session.execute(update(Contact).where(Contact.telegram_chat_id == chat_id)
                                  .values(language=language, updated_at=uow.now()))
