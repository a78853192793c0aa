"""A phone registered for several families: each conversation speaks for the right one."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from core.services.conversations import Who, own_household
from core.storage.schema import Contact
from core.storage.uow import Core
from tests.storage.factories import make_family

pytestmark = pytest.mark.postgres

PHONE = "+998901234567"
CHAT = 424242


async def test_telegram_speaks_for_the_family_the_chat_is_linked_to(core: Core) -> None:
    first, _ = await make_family(core, phone=PHONE)
    second, _ = await make_family(core, phone=PHONE)
    async with core.uow() as uow:
        await uow.session.execute(update(Contact).where(Contact.household_id == second).values(telegram_chat_id=CHAT))
        await uow.commit()
    telegram = Who(f"tg:{CHAT}", PHONE, "telegram", "uz", 1)
    ussd = Who("ussd:abc", PHONE, "ussd", "uz", 1)
    other_chat = Who("tg:777", PHONE, "telegram", "uz", 1)
    async with core.uow() as uow:
        assert await own_household(uow, telegram) == second
        assert await own_household(uow, ussd) == min(first, second)
        assert await own_household(uow, other_chat) == min(first, second)
