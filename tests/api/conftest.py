"""The registry API through real HTTP: the app from ``spsr.server.build_app`` over the test database,
with one client per role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.config import Settings
from core.storage.uow import Actor, Core
from registry_api import app as registry_app
from registry_api.clients import ROLES, add_client
from spsr.server import build_app

ADMIN = Actor("staff", "test", "cli")


@dataclass
class Api:
    http: TestClient[Any, Any]
    keys: dict[str, str]
    core: Core

    def auth(self, role: str, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}", **headers}

    async def get(self, path: str, role: str = "admin", **headers: str) -> Any:
        return await self.http.get(path, headers=self.auth(role, **headers))

    async def post(self, path: str, body: Any = None, role: str = "hotline", **headers: str) -> Any:
        return await self.http.post(path, json=body, headers=self.auth(role, **headers))


async def add_key(core: Core, name: str, role: str, **kwargs: Any) -> str:
    async with core.uow() as uow:
        _, key = await add_client(uow, name, role, ADMIN, **kwargs)
        await uow.commit()
    return key


@pytest.fixture
async def api(core: Core, database_url: str,
              aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]]) -> Api:
    keys = {role: await add_key(core, f"{role}-1" if role != "agency" else "soliq", role) for role in ROLES}
    app = build_app(core, Settings(database_url=database_url), mounts=[registry_app.mount])
    return Api(await aiohttp_client(app), keys, core)
