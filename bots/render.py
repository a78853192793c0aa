"""A flow screen laid out for Telegram: text messages under 4,096 characters and inline buttons.

The screen is the flow engine's (title, text, numbered options, free-text flag, end flag); the bot
adds no wording of its own here. Buttons carry ``<session version>:<option key>`` only, never
personal data, so an old button is recognised by its version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from core.i18n import Words, _

MAX_TEXT = 4096
MAX_CALLBACK_BYTES = 64
# Key the engine reads as Back and Home (see core.flows.engine).
BACK_KEY = "0"
HOME_KEY = "00"


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters, at paragraph, line or word ends."""
    text = text.strip()
    parts: list[str] = []
    while len(text) > limit:
        cut = -1
        for sep in ("\n\n", "\n", " "):
            cut = text.rfind(sep, 0, limit)
            if cut > limit // 2:
                break
        if cut <= 0:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts or [""]


def callback_data(version: int, key: str) -> str:
    data = f"{version}:{key}"
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError("callback data over 64 bytes")
    return data


def parse_callback(data: str | None) -> tuple[int, str] | None:
    """``"12:3"`` → (12, "3"); anything else → None."""
    if not data or ":" not in data:
        return None
    version, _sep, key = data.partition(":")
    if not version.isdigit() or not key:
        return None
    return int(version), key


@dataclass(frozen=True)
class Layout:
    """Messages to send for one screen; the last one carries the keyboard."""

    parts: list[str]
    keyboard: InlineKeyboardMarkup | None


def screen_text(screen: dict[str, Any]) -> str:
    blocks = []
    if screen.get("error"):
        blocks.append(f"⚠️ {screen['error']}")
    if screen.get("title"):
        blocks.append(f"{screen['title']}")
    if screen.get("text"):
        blocks.append(str(screen["text"]))
    return "\n\n".join(blocks) or "…"


def layout(screen: dict[str, Any], version: int) -> Layout:
    """Lay a screen (the engine's ``Screen.to_dict()``) out as messages and inline buttons."""
    rows: list[Sequence[InlineKeyboardButton]] = [
        [InlineKeyboardButton(str(label), callback_data=callback_data(version, str(key)))]
        for key, label in screen.get("options", [])
    ]
    controls = []
    if not screen.get("end"):
        if screen.get("back", True):
            controls.append(InlineKeyboardButton("⬅️ " + _(Words.BACK), callback_data=callback_data(version, BACK_KEY)))
        if screen.get("home", True):
            controls.append(InlineKeyboardButton("🏠 " + _(Words.HOME), callback_data=callback_data(version, HOME_KEY)))
    else:
        controls.append(InlineKeyboardButton("🏠 " + _(Words.HOME), callback_data=callback_data(version, HOME_KEY)))
    if controls:
        rows.append(controls)
    keyboard = InlineKeyboardMarkup(rows) if rows else None
    return Layout(split_text(screen_text(screen)), keyboard)
