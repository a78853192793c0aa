"""What a text costs on the air: GSM 03.38 (3GPP TS 23.038) alphabet, SMS parts and USSD room.

A text made only of GSM 7-bit characters travels packed in septets; anything else (Cyrillic, the
Uzbek ʻ and ʼ, Karakalpak ı ń ǵ …) forces the whole message into UCS-2, two octets per UTF-16 unit.
Every screen and SMS is laid out by this real encoded size, never by ``len()``.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "SMS_PART",
    "SMS_SINGLE",
    "USSD_LIMIT",
    "Encoding",
    "encoding",
    "fits_ussd",
    "is_gsm7",
    "septets",
    "sms_segments",
    "ussd_length",
    "ussd_limit",
]

Encoding = Literal["gsm7", "ucs2"]

#: The GSM 03.38 default alphabet: one septet each (ESC 0x1B itself is not a character).
GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: The extension table: each costs two septets (ESC + code).
GSM7_EXTENSION: Final = frozenset("\f^{}\\[~]|€")

# An SMS carries 140 octets of user data: 160 septets or 70 UCS-2 units alone; a part of a long
# (concatenated) message gives 6 octets to the UDH, leaving 153 septets or 67 units.
SMS_SINGLE: Final[dict[Encoding, int]] = {"gsm7": 160, "ucs2": 70}
SMS_PART: Final[dict[Encoding, int]] = {"gsm7": 153, "ucs2": 67}

# A USSD string carries at most 160 octets (3GPP TS 24.090 / 23.038): 160 × 8 / 7 = 182 septets
# packed in GSM 7-bit, or 160 / 2 = 80 UTF-16 units in UCS-2 (DOMAIN.md: "a USSD screen holds 182
# GSM-7 characters or far fewer in UCS-2"). Some gateways allow less; correct the table, not code.
USSD_LIMIT: Final[dict[Encoding, int]] = {"gsm7": 182, "ucs2": 80}


_GSM7_ALL: Final = GSM7_BASIC | GSM7_EXTENSION


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM 7-bit default alphabet or its extension table."""
    return _GSM7_ALL.issuperset(text)


def encoding(text: str) -> Encoding:
    """The encoding a gateway must use for ``text``: ``gsm7`` if it can, else ``ucs2``."""
    return "gsm7" if is_gsm7(text) else "ucs2"


def _units(ch: str, enc: Encoding) -> int:
    if enc == "gsm7":
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1  # a surrogate pair in UTF-16


def septets(text: str) -> int:
    """Septets of a GSM 7-bit text (extension characters count 2); ValueError if it is not GSM-7."""
    if not is_gsm7(text):
        raise ValueError("text is not in the GSM 7-bit alphabet")
    return sum(_units(ch, "gsm7") for ch in text)


def _length(text: str, enc: Encoding) -> int:
    # Counted in C (the pager measures every candidate page): extension characters and astral
    # characters are the only ones that take two units.
    if enc == "gsm7":
        return len(text) + sum(text.count(ch) for ch in GSM7_EXTENSION)
    return len(text.encode("utf-16-le")) // 2


def sms_segments(text: str) -> int:
    """Number of SMS parts ``text`` is sent as (an empty text is still one message).

    Long texts are cut the way gateways do it: an escape pair or a surrogate pair is never split
    across two parts, so a part may hold one unit less than its nominal size.
    """
    enc = encoding(text)
    if _length(text, enc) <= SMS_SINGLE[enc]:
        return 1
    part = SMS_PART[enc]
    parts, used = 1, 0
    for ch in text:
        size = _units(ch, enc)
        if used + size > part:
            parts, used = parts + 1, 0
        used += size
    return parts


def ussd_length(text: str) -> int:
    """Size of ``text`` in the unit of :func:`ussd_limit`: septets for GSM-7, UTF-16 units otherwise."""
    return _length(text, encoding(text))


def ussd_limit(text: str) -> int:
    """How much one USSD screen holds in the encoding ``text`` needs (182 GSM-7, 80 UCS-2)."""
    return USSD_LIMIT[encoding(text)]


def fits_ussd(text: str) -> bool:
    """True when ``text`` fits on one USSD screen in its real encoding."""
    return ussd_length(text) <= ussd_limit(text)
