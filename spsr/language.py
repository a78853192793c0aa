"""The language the ``spsr`` command speaks to ministry staff: Uzbek, Karakalpak, Russian or English.

``SPSR_LANGUAGE`` (``uz``, ``kaa``, ``ru``, or ``en`` to keep English under any locale) wins; else
the POSIX locale that names the language of messages (the first of ``LC_ALL``, ``LC_MESSAGES``,
``LANG`` that is set: ``ru_RU.UTF-8`` is Russian); else English. The msgids are the English
sentences, so English output is the msgid itself and scripts written against it keep working.

The choice lives in a ContextVar set once by ``spsr.cli.main`` (:func:`speaking`). The core's own
locale is left alone (``spsr serve`` runs inside it too, and its jobs must not take the operator's
language for the citizens'): a text the API shares (a refusal title) is read in :func:`core_locale`.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from core.i18n import SUPPORTED, Locale, format_number, translations, use_locale

ENV: Final = "SPSR_LANGUAGE"
#: The variables POSIX reads for the language of messages, strongest first.
POSIX_ENV: Final = ("LC_ALL", "LC_MESSAGES", "LANG")
ENGLISH: Final = "en"

_language: contextvars.ContextVar[Locale | None] = contextvars.ContextVar("spsr_cli_language", default=None)


class UnknownLanguage(ValueError):
    """``SPSR_LANGUAGE`` names no language the command speaks (said in English: no other is sure)."""

    def __init__(self, value: str) -> None:
        super().__init__(f"{ENV}={value!r} is not a language spsr speaks: set it to uz (Oʻzbekcha), "
                         f"kaa (Qaraqalpaqsha), ru (Русский) or en (English), or leave it unset to follow "
                         f"{', '.join(POSIX_ENV)}")


def _posix_language(value: str) -> Locale | None:
    """``ru_RU.UTF-8`` → ``ru``, ``uz_UZ@cyrillic`` → ``uz``, ``kaa`` → ``kaa``; ``C``, ``en_US`` → None."""
    return _ours(value.split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower())


def _ours(code: str) -> Locale | None:
    return next((ours for ours in SUPPORTED if ours == code), None)


def language_from_env(environ: Mapping[str, str] | None = None) -> Locale | None:
    """The operator's language (None: English); :class:`UnknownLanguage` for a mistyped ``SPSR_LANGUAGE``."""
    env = os.environ if environ is None else environ
    chosen = env.get(ENV, "").strip().lower()
    if chosen:
        if chosen == ENGLISH:
            return None
        language = _ours(chosen)
        if language is None:
            raise UnknownLanguage(env[ENV])
        return language
    # POSIX: the first of these that is set and not empty decides, even when it names no language
    # of ours (LC_ALL=C is English whatever LANG says).
    posix = next((env[name] for name in POSIX_ENV if env.get(name)), "")
    return _posix_language(posix)


def current_language() -> Locale | None:
    """The language of the command being run (None: English)."""
    return _language.get()


@contextmanager
def speaking(language: Locale | None) -> Iterator[None]:
    """Run a command in ``language`` (None: English)."""
    token = _language.set(language)
    try:
        yield
    finally:
        _language.reset(token)


@contextmanager
def core_locale() -> Iterator[bool]:
    """The core's locale set to the operator's language for a text the core words (a refusal
    title); yields False in English, where the caller keeps its own English wording."""
    language = _language.get()
    if language is None:
        yield False
        return
    with use_locale(language):
        yield True


def tr(msgid: str) -> str:
    """``msgid`` in the operator's language: the English msgid itself when none is chosen."""
    language = _language.get()
    return msgid if language is None else translations(language).gettext(msgid)


def ptr(context: str, msgid: str) -> str:
    """:func:`tr` with a context, for single words that mean other things elsewhere."""
    language = _language.get()
    return msgid if language is None else translations(language).pgettext(context, msgid)


def tell(msgid: str, **params: Any) -> str:
    """A whole sentence in the operator's language with its named placeholders filled."""
    return tr(msgid).format(**params)


def ntr(singular: str, plural: str, n: int) -> str:
    """:func:`tr` for a sentence with a count: the language's plural form for ``n`` (Russian has
    three); in English ``singular`` for 1, else ``plural``, as gettext does."""
    language = _language.get()
    if language is None:
        return singular if n == 1 else plural
    return translations(language).ngettext(singular, plural, n)


def ntell(singular: str, plural: str, n: int, **params: Any) -> str:
    """:func:`tell` for a sentence with a count ``n`` (pass it among ``params`` too, formatted)."""
    return ntr(singular, plural, n).format(**params)


def number(value: int) -> str:
    """A whole number as the operator reads it: ``10,000`` in English (as before), ``10 000`` in
    Uzbek, Karakalpak and Russian, which group thousands with a space."""
    return f"{value:,}" if _language.get() is None else format_number(value)


def decimal(value: float, places: int = 1) -> str:
    """A measured number (seconds, a rate) to ``places`` decimals: ``12.5`` in English (as before,
    not grouped), ``12,5`` and ``1 234,5`` in Uzbek, Karakalpak and Russian, which write a decimal
    comma and group thousands with a space."""
    if _language.get() is None:
        return f"{value:.{places}f}"
    return f"{value:,.{places}f}".replace(",", " ").replace(".", ",")
