"""The fake Telegram Bot API server the end-to-end tests (and ``spsr bot --fake-api``) use."""

from bots.fake_api import (  # noqa: F401
    BOT_USER,
    FakeBotApi,
    callback_update,
    contact_update,
    photo_update,
    serve_forever,
    sticker_update,
    text_update,
    voice_update,
)
