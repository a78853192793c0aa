"""argparse's own words ("usage: ", "options", "the following arguments are required: %s", …) in
the operator's language, from the project's catalogs.

argparse looks its words up through the module globals ``argparse._`` and ``argparse.ngettext``
(``gettext.gettext`` and ``gettext.ngettext`` under the process's default domain) at the moment it
uses them: group titles and the ``-h`` help when a parser is built, the usage prefix when help is
formatted, error messages when arguments are parsed. :func:`argparse_speaking` puts two lookups
there for as long as the command line builds and parses (the rest of the process never sees them):
they translate into the language :func:`spsr.language.speaking` chose in the *current context* and
hand every other caller (another thread, an English command, a msgid we do not carry) to gettext
as before. Translating the msgid before argparse fills it in is exact; a parser subclass could
only see the sentences already filled in (``error()`` receives "argument --month: expected one
argument") and would have to parse English back, and ``_parse_known_args`` builds the
required-arguments error inline.

The msgids below are argparse's (Python 3.11, ``Lib/argparse.py``), marked so that extraction
keeps them in ``messages.pot``; they use argparse's ``%`` placeholders, which Babel checks as
python-format. argparse's errors in a program's own construction (a conflicting option string,
``dest=`` missing, …) are a developer's tracebacks and stay in English.
"""

from __future__ import annotations

import argparse
import gettext
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

from core.i18n import N_, N_plural, translations
from spsr.language import current_language

#: Everything argparse says to the person at the command line.
MESSAGES: Final = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("subcommands"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("ignored explicit argument %r"),
    N_("unexpected option string: %s"),
    N_("not allowed with argument %s"),
    N_("one of the arguments %s is required"),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
    N_("can't open '%(filename)s': %(error)s"),
)
PLURALS: Final = (
    N_plural("expected %s argument", "expected %s arguments"),
)

_lock = threading.Lock()
_users = 0
_originals: tuple[Callable[[str], str], Callable[[str, str, int], str]] | None = None


def _gettext(message: str) -> str:
    language = current_language()
    if language is None or not message:  # argparse passes None for a subparser group's description
        return gettext.gettext(message)
    return translations(language).gettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    language = current_language()
    if language is None:
        return gettext.ngettext(singular, plural, n)
    return translations(language).ngettext(singular, plural, n)


@contextmanager
def argparse_speaking() -> Iterator[None]:
    """argparse's words in the language of the current :func:`~spsr.language.speaking` while the
    block runs (build the parser and parse inside it). Nested or concurrent blocks (tests run the
    command in threads) share one installation; the last one out puts argparse's lookups back."""
    global _users, _originals
    with _lock:
        if _users == 0:
            _originals = (argparse._, argparse.ngettext)  # type: ignore[attr-defined]
            argparse._ = _gettext  # type: ignore[attr-defined]
            argparse.ngettext = _ngettext  # type: ignore[attr-defined]
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _originals is not None:
                argparse._, argparse.ngettext = _originals  # type: ignore[attr-defined]
                _originals = None
