"""The language of the current request, translations and locale-aware formatting.

The locale lives in a :class:`~contextvars.ContextVar`: a front end wraps the handling of one
request in ``with use_locale(code):`` and everything below reads :func:`current_locale`; each
asyncio task sees its own value and nothing is installed globally.

Messages are English msgids with named ``{placeholders}``, translated whole (never glued)::

    _("Your application is registered.")
    ngettext("{count} child", "{count} children", n).format(count=n)
    pgettext("menu", "Back")

Catalogs are read once per process: the compiled ``.mo`` when it exists and is not older than its
``.po``; otherwise the ``.po`` is compiled in memory, so a fresh checkout works without a build step.
"""

from __future__ import annotations

import contextvars
import gettext as _gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import cache
from typing import Final, Literal

from babel.dates import format_date as _babel_format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from locales import CATALOG_DIR, DOMAIN

__all__ = [
    "DEFAULT_LOCALE",
    "LANGUAGE_NAMES",
    "SUPPORTED",
    "DateStyle",
    "LazyString",
    "Locale",
    "N_",
    "N_plural",
    "Words",
    "_",
    "current_locale",
    "format_date",
    "format_date_range",
    "format_days",
    "format_money",
    "format_months",
    "format_number",
    "gettext",
    "lazy_gettext",
    "ngettext",
    "npgettext",
    "pgettext",
    "reload_catalogs",
    "translations",
    "use_locale",
]

Locale = Literal["uz", "kaa", "ru"]
SUPPORTED: Final[tuple[Locale, ...]] = ("uz", "kaa", "ru")
DEFAULT_LOCALE: Final[Locale] = "uz"

#: Each language named in itself, for the language menu: shown the same whatever the locale,
#: so these are not translated.
LANGUAGE_NAMES: Final[dict[Locale, str]] = {"uz": "Oʻzbekcha", "kaa": "Qaraqalpaqsha", "ru": "Русский"}

# Codes seen in the wild (Accept-Language, Telegram language_code; "oz" is how Uzbek government
# sites name Uzbek Latin) → ours.
# Uzbek Cyrillic readers get Uzbek Latin: the gateway writes Uzbek in Latin only.
_ALIASES: Final[dict[str, Locale]] = {
    "uz": "uz", "uzb": "uz", "uz_latn": "uz", "uz_cyrl": "uz", "oz": "uz",
    "kaa": "kaa", "kaa_latn": "kaa", "kaa_cyrl": "kaa",
    "ru": "ru", "rus": "ru",
}

_current: contextvars.ContextVar[Locale] = contextvars.ContextVar("spsr_locale", default=DEFAULT_LOCALE)


def normalise_locale(code: str | None) -> Locale:
    """Map a locale code as clients send it (``uz-UZ``, ``ru_RU``, ``kaa-Latn``…) to one of ours.

    Unknown or empty codes give the default, Uzbek.
    """
    if not code:
        return DEFAULT_LOCALE
    parts = code.strip().replace("-", "_").lower().split(".")[0].split("@")[0].split("_")
    for n in (2, 1):
        key = "_".join(parts[:n])
        if len(parts) >= n and key in _ALIASES:
            return _ALIASES[key]
    return DEFAULT_LOCALE


def current_locale() -> Locale:
    """The locale of the request being handled (``uz`` outside any :func:`use_locale`)."""
    return _current.get()


@contextmanager
def use_locale(code: str | None) -> Iterator[Locale]:
    """Run a block in the given locale (normalised); the previous one comes back afterwards."""
    token = _current.set(normalise_locale(code))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


# --- catalogs ------------------------------------------------------------------------------------

# A Karakalpak msgid left untranslated reads better in Uzbek than in English; Uzbek and Russian
# fall back to the English msgid (the catalog check keeps that from happening in a release).
_FALLBACK: Final[dict[Locale, Locale | None]] = {"uz": None, "kaa": "uz", "ru": None}


def _load(locale: Locale) -> _gettext.NullTranslations:
    po_path = CATALOG_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo_path = po_path.with_suffix(".mo")
    if mo_path.exists() and (not po_path.exists() or mo_path.stat().st_mtime >= po_path.stat().st_mtime):
        with mo_path.open("rb") as fh:
            return _gettext.GNUTranslations(fh)
    if not po_path.exists():
        return _gettext.NullTranslations()
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


@cache
def translations(locale: Locale) -> _gettext.NullTranslations:
    """The translations of one locale, loaded on first use and kept for the process."""
    result = _load(locale)
    fallback = _FALLBACK[locale]
    if fallback is not None:
        result.add_fallback(translations(fallback))
    return result


def reload_catalogs() -> None:
    """Forget loaded catalogs (for tests and for a running process after ``compile``)."""
    translations.cache_clear()


def gettext(message: str) -> str:
    """Translate ``message`` into the current locale."""
    return translations(current_locale()).gettext(message)


_ = gettext


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate a message with a count, choosing the locale's plural form for ``n``.

    Format the result yourself: ``ngettext("{count} day", "{count} days", n).format(count=n)``.
    """
    return translations(current_locale()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """Translate a message whose meaning depends on a context (``pgettext("menu", "Back")``)."""
    return translations(current_locale()).pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    """:func:`ngettext` with a context."""
    return translations(current_locale()).npgettext(context, singular, plural, n)


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now; translate it with ``_()`` later."""
    return message


def N_plural(singular: str, plural: str) -> tuple[str, str]:
    """Mark a message with a plural for extraction without translating it; translate it with
    ``ngettext(singular, plural, n)`` later (argparse's own plural messages are marked so)."""
    return singular, plural


class LazyString:
    """A message translated each time it is turned into text, in the locale current at that time.

    For strings defined at import time (menu tables) that must follow each request's locale.
    """

    __slots__ = ("_message",)

    def __init__(self, message: str) -> None:
        self._message = message

    @property
    def msgid(self) -> str:
        return self._message

    def __str__(self) -> str:
        return gettext(self._message)

    def __repr__(self) -> str:
        return f"LazyString({self._message!r})"

    def format(self, **params: object) -> str:
        return str(self).format(**params)


def lazy_gettext(message: str) -> LazyString:
    """Mark ``message`` for extraction and translate it when it is used (see :class:`LazyString`)."""
    return LazyString(message)


class Words:
    """Screen words every channel uses; translate at render time: ``_(Words.BACK)``."""

    BACK: Final = N_("Back")
    HOME: Final = N_("Home")
    MORE: Final = N_("More")
    HELP: Final = N_("Help")
    YES: Final = N_("Yes")
    NO: Final = N_("No")
    CHOOSE_LANGUAGE: Final = N_("Choose your language")
    INVALID_CHOICE: Final = N_("There is no such option. Please send one of the numbers shown.")
    #: "Home" where every character counts (a USSD screen): the controls line "0 Back 00 Menu".
    MENU: Final = N_("Menu")
    UNAVAILABLE: Final = N_("The service is temporarily unavailable. Please try again later.")


# --- numbers and money ---------------------------------------------------------------------------

# Thousands are grouped with a plain space, pinned on purpose: U+00A0 and U+202F (what CLDR uses)
# are outside GSM 03.38 and would turn a whole Uzbek SMS into UCS-2, and some feature phones draw
# U+202F as a box. The word after the amount is ours, not CLDR's: CLDR's Russian and Karakalpak
# UZS formats print "UZS" and decimals, and so'm are whole numbers.
GROUP_SEPARATOR: Final = " "
# Karakalpak says "som", like Kazakh and Kyrgyz "сом": "swm" would be a letter-for-letter rendering
# of the Uzbek Cyrillic "сўм" (Karakalpak ў = w) that nobody says; "som" is also plain GSM-7.
_CURRENCY_WORD: Final[dict[Locale, str]] = {"uz": "soʻm", "kaa": "som", "ru": "сум"}


def _resolve(locale: str | None) -> Locale:
    return current_locale() if locale is None else normalise_locale(locale)


def format_number(value: int, locale: str | None = None) -> str:
    """A whole number with its thousands grouped by a space: ``745 000`` (same in all our locales)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"format_number takes an int, not {type(value).__name__}")
    del locale  # all three locales group the same way; the parameter keeps the API uniform
    sign = "-" if value < 0 else ""
    return sign + f"{abs(value):,}".replace(",", GROUP_SEPARATOR)


def format_money(amount: int, locale: str | None = None) -> str:
    """An amount of whole so'm with the local word: ``745 000 soʻm``, ``745 000 som``, ``745 000 сум``."""
    return f"{format_number(amount)} {_CURRENCY_WORD[_resolve(locale)]}"


def format_months(count: int, locale: str | None = None) -> str:
    """A number of months: ``6 oy``, ``6 ay``, ``6 месяцев``."""
    with use_locale(_resolve(locale)):
        return ngettext("{count} month", "{count} months", count).format(count=count)


def format_days(count: int, locale: str | None = None) -> str:
    """A number of days: ``15 kun``, ``15 kún``, ``15 дней``."""
    with use_locale(_resolve(locale)):
        return ngettext("{count} day", "{count} days", count).format(count=count)


# --- dates ---------------------------------------------------------------------------------------

DateStyle = Literal["day_month", "day_month_year", "numeric"]

# CLDR in Babel 2.18 cannot write Karakalpak Latin: "kaa" is Karakalpak *Cyrillic* (its months are
# январь…декабрь, its long date "2026 декабрь 5") and "kaa_Latn" holds no data (falls back to root:
# "2026 M12 5"). The project supplies the Latin month names (Karakalpak keeps the Russian-derived
# names, with -ya- where Uzbek writes sentabr, oktabr). tests/unit/test_i18n.py pins both facts.
KARAKALPAK_MONTHS: Final = (
    "yanvar", "fevral", "mart", "aprel", "may", "iyun",
    "iyul", "avgust", "sentyabr", "oktyabr", "noyabr", "dekabr",
)
# Uzbek writes the day as an ordinal "5-dekabr" and puts the year first, "2026-yil 5-dekabr", as in
# every decree and notice ("2025-yil 26-dekabrdagi"); Karakalpak does the same with "jıl". CLDR's
# Uzbek long date "5-dekabr, 2026" is not how Uzbek is written, so only its month names are used.
_DAY_MONTH: Final[dict[Locale, str]] = {"uz": "{day}-{month}", "kaa": "{day}-{month}", "ru": "{day} {month}"}
_WITH_YEAR: Final[dict[Locale, str]] = {
    "uz": "{year}-yil {date}", "kaa": "{year}-jıl {date}", "ru": "{date} {year} г.",
}
_DAY_RANGE: Final[dict[Locale, str]] = {
    "uz": "{start}–{end}-{month}", "kaa": "{start}–{end}-{month}", "ru": "{start}–{end} {month}",
}
_RANGE_JOIN: Final = " – "


def _month_name(d: date, locale: Locale) -> str:
    if locale == "kaa":
        return KARAKALPAK_MONTHS[d.month - 1]
    # Uzbek month names in running text are lower case (CLDR "format" context); Russian takes the
    # genitive after a day number, which is CLDR's "format" context too ("5 декабря").
    return _babel_format_date(d, "MMMM", locale=locale)


def _with_year(text: str, year: int, locale: Locale) -> str:
    return _WITH_YEAR[locale].format(year=year, date=text)


def format_date(d: date, style: DateStyle = "day_month", locale: str | None = None) -> str:
    """A date for citizens: ``5-dekabr`` / ``2026-yil 5-dekabr`` (uz), ``5 декабря`` / ``5 декабря 2026 г.``
    (ru), ``5-dekabr`` / ``2026-jıl 5-dekabr`` (kaa); ``numeric`` is ``05.12.2026`` everywhere."""
    loc = _resolve(locale)
    if style == "numeric":
        return f"{d.day:02d}.{d.month:02d}.{d.year:04d}"
    text = _DAY_MONTH[loc].format(day=d.day, month=_month_name(d, loc))
    return _with_year(text, d.year, loc) if style == "day_month_year" else text


def format_date_range(start: date, end: date, *, with_year: bool = False, locale: str | None = None) -> str:
    """A window such as a payment period: ``4–27-dekabr``, ``4–27 декабря``.

    Across months: ``28-noyabr – 3-dekabr``; across years both ends carry their year.
    """
    loc = _resolve(locale)
    if end < start:
        raise ValueError(f"range ends ({end}) before it starts ({start})")
    style: DateStyle = "day_month_year" if with_year else "day_month"
    if start == end:
        return format_date(start, style, loc)
    if start.year != end.year:
        return format_date(start, "day_month_year", loc) + _RANGE_JOIN + format_date(end, "day_month_year", loc)
    if start.month == end.month:
        text = _DAY_RANGE[loc].format(start=start.day, end=end.day, month=_month_name(end, loc))
    else:
        text = format_date(start, "day_month", loc) + _RANGE_JOIN + format_date(end, "day_month", loc)
    return _with_year(text, end.year, loc) if with_year else text
