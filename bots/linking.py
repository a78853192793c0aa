"""Linking a Telegram chat to a household by the phone number the person shared themselves.

A phone may be the registered contact of several households (a mother who is also the contact of
her parents' household). A chat can be linked to one household's contact (``telegram_chat_id`` is
unique), so the person picks which; the other households keep their notices by SMS.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update

from core.errors import Forbidden, NotFound
from core.identity import Msisdn
from core.services.conversations import mask_name
from core.services.registry import LANGUAGES, household_ids_for_phone, household_view
from core.storage.schema import Contact, Mahalla
from core.storage.uow import Actor, UnitOfWork

LINK_ERROR_CODES = ("telegram.contact_not_own", "phone.not_registered")


@dataclass(frozen=True)
class Household:
    """One household a shared phone is registered for, as the person is shown it."""

    id: int
    label: str  # "Anvar K*****v, Navbahor": enough to recognise one's family, not to read it out


async def households_for_contact(uow: UnitOfWork, sender_id: int, contact_user_id: int | None,
                                 phone_text: str) -> tuple[Msisdn, list[int]]:
    """The households registered under a shared phone, oldest first.

    Only the sender's own contact counts (Telegram verified it); the number is normalised and must
    be a registered contact.
    """
    if contact_user_id is None or contact_user_id != sender_id:
        raise Forbidden("telegram.contact_not_own")
    phone = Msisdn.parse(phone_text)
    household_ids = sorted(await household_ids_for_phone(uow.session, phone.e164))
    if not household_ids:
        raise NotFound("phone.not_registered")
    return phone, household_ids


async def describe(uow: UnitOfWork, household_ids: list[int], language: str) -> list[Household]:
    """Button labels for a choice between households: the head's masked name and the mahalla."""
    labels: list[tuple[int, str, str]] = []
    for hid in household_ids:
        view = await household_view(uow.session, hid)
        head = view.head or view.members[0]
        mahalla = await uow.session.get(Mahalla, view.mahalla_id)
        place = ""
        if mahalla is not None:
            place = {"kaa": mahalla.name_kaa, "ru": mahalla.name_ru}.get(language) or mahalla.name_uz
        labels.append((hid, mask_name(head.given_name, head.surname) + (f", {place}" if place else ""),
                       view.address or ""))
    names = [label for _hid, label, _address in labels]
    if len(set(names)) < len(names):  # two families alike by head and mahalla: the street tells them apart
        names = [f"{label}, {address}" if address else label for _hid, label, address in labels]
    if len(set(names)) < len(names):
        names = [f"{i}. {label}" for i, label in enumerate(names, 1)]
    return [Household(hid, name[:60]) for (hid, _label, _address), name in zip(labels, names, strict=True)]


async def link_chat(uow: UnitOfWork, chat_id: int, phone: Msisdn, household_id: int,
                    language: str | None = None) -> None:
    """Link ``chat_id`` to one household registered under ``phone``; notices for it come here.

    The chat leaves any household it was linked to before (``telegram_chat_id`` is unique).
    """
    s = uow.session
    contact = await s.get(Contact, household_id)
    if contact is None or contact.phone != phone.e164:
        raise NotFound("phone.not_registered")
    now = uow.now()
    await s.execute(update(Contact).where(Contact.telegram_chat_id == chat_id,
                                          Contact.household_id != household_id)
                    .values(telegram_chat_id=None, updated_at=now))
    await s.flush()
    contact.telegram_chat_id = chat_id
    contact.telegram_blocked = False
    if language in LANGUAGES:
        contact.language = language  # notices come in the language the person chose here
    contact.updated_at = now
    uow.audit(Actor("citizen", phone.e164, "telegram"), "contact.telegram_linked", "household",
              household_id, chat_id=chat_id)



async def set_contact_language(uow: UnitOfWork, chat_id: int, language: str) -> None:
    """The person changed the language on Telegram: notices to their family follow it."""
    if language in LANGUAGES:
        await uow.session.execute(update(Contact).where(Contact.telegram_chat_id == chat_id)
                                  .values(language=language, updated_at=uow.now()))


async def unblock(uow: UnitOfWork, chat_id: int) -> None:
    """The person wrote to the bot after blocking it: notices may go to Telegram again."""
    await uow.session.execute(update(Contact).where(Contact.telegram_chat_id == chat_id,
                                                    Contact.telegram_blocked.is_(True))
                              .values(telegram_blocked=False, updated_at=uow.now()))
