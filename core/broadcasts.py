"""Broadcasts to an area: what an operator may send, by rules that need no database.

A broadcast is one text in each of the citizens' languages (Uzbek, Karakalpak, Russian: every
household hears it in its own), to every reachable household of a region, district or mahalla.
Each text must fit a few SMS parts as it is really sent: GSM-7 where every character allows, else
UCS-2 (a Cyrillic or ``ʻ``-spelt text holds 67 characters a part, not 153).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from core.errors import InvalidInput
from core.gsm import encoding, sms_segments
from core.text import clean_text, gsm_spelling, tidy_sentences

AREA_KINDS: Final = ("region", "district", "mahalla")
CHANNELS: Final = ("telegram", "sms")
LANGUAGES: Final = ("uz", "kaa", "ru")
STATES: Final = ("queued", "cancelled")
#: SMS parts a broadcast text may take in its real encoding: 459 GSM-7 or 201 UCS-2 characters.
#: Past that, phones join long messages unreliably, and each part is paid for 150,000 times over.
MAX_SEGMENTS: Final = 3
#: The most characters the API takes for one text (the segment limit is the real bound).
MAX_TEXT: Final = 1000
#: Mahalla ids are 32-bit integers (``mahallas.id``): a larger code names none.
MAX_MAHALLA_ID: Final = 2**31 - 1
#: The states of a broadcast's outbox rows that an operator is shown, in order.
ROW_STATES: Final = ("pending", "sent", "delivered", "failed", "dead", "withdrawn")


def sms_text(text: str, language: str) -> str:
    """The text as the SMS sender sends it (``core.services.sms.compose``: GSM-friendly spelling)."""
    return gsm_spelling(tidy_sentences(text), language)


def check_texts(texts: Mapping[str, str]) -> dict[str, str]:
    """The three texts, trimmed; refused when one is missing, blank or longer than ``MAX_SEGMENTS`` parts."""
    out: dict[str, str] = {}
    for language in LANGUAGES:
        text = clean_text(texts.get(language) or "").strip()  # no NUL or lone surrogate reaches a phone
        if not text:
            raise InvalidInput("broadcast.missing_text", language=language)
        sent = sms_text(text, language)
        segments = sms_segments(sent)
        if segments > MAX_SEGMENTS:
            raise InvalidInput("broadcast.text_too_long", language=language, segments=segments,
                               limit=MAX_SEGMENTS, encoding=encoding(sent))
        out[language] = text
    return out


def check_channels(channels: tuple[str, ...]) -> tuple[str, ...]:
    """The channels in their fixed order, each once; at least one."""
    chosen = tuple(c for c in CHANNELS if c in channels)
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown or not chosen:
        raise InvalidInput("broadcast.channels", channels=list(channels))
    return chosen


def check_area(kind: str, code: str) -> str:
    """A well-formed area code of its kind (region 4 digits, district 7, mahalla an id)."""
    digits = {"region": (4, 4), "district": (7, 7), "mahalla": (1, 10)}.get(kind)
    if (digits is None or not (code.isascii() and code.isdigit() and digits[0] <= len(code) <= digits[1])
            or (kind == "mahalla" and int(code) > MAX_MAHALLA_ID)):
        raise InvalidInput("broadcast.unknown_area", kind=kind, area_code=code[:20])
    return code
