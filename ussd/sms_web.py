"""SMS endpoints: inbound messages and delivery receipts (filled in with the SMS service)."""

from __future__ import annotations

from aiohttp import web


def mount(app: web.Application) -> None:
    del app
