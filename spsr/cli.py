"""The ``spsr`` command. Each subcommand lives in its own module under ``spsr.commands``.

A command module exposes ``register(subparsers)`` which adds its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

from core.clock import BadToday, clock_from_env
from core.config import BadSetting, Settings
from spsr import commands
from spsr.argparse_words import argparse_speaking
from spsr.bootstrap import freeze_startup
from spsr.files import CommandError
from spsr.language import UnknownLanguage, language_from_env, ptr, speaking, tell, tr


def build_parser() -> argparse.ArgumentParser:
    """The parser, its help in the language of the current :func:`~spsr.language.speaking` (argparse
    reads a help text when it is added); argparse's own words follow inside :func:`argparse_speaking`."""
    parser = argparse.ArgumentParser(
        prog="spsr",
        description=tr("Citizen gateway of Uzbekistan's Social Protection Single Registry."),
        epilog=tr("The database is chosen by SPSR_DATABASE_URL (default: SQLite at ./var/spsr.db); "
                  "SPSR_TODAY=YYYY-MM-DD pins the registry's date for demos and checks; SPSR_LANGUAGE=uz|kaa|ru|en "
                  "the language staff commands answer in (default: LC_ALL, LC_MESSAGES or LANG, else English)."),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help=tr("log debug output"))
    sub = parser.add_subparsers(dest="command", metavar=ptr("metavar", "COMMAND"))
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"spsr.commands.{info.name}")
        module.register(sub)
    return parser


def setting_refused(exc: ValueError) -> str:
    """Why a setting stops every command, in the operator's language."""
    if isinstance(exc, BadToday):
        return tell("SPSR_TODAY={value} is not a date (YYYY-MM-DD, e.g. 2026-12-10)", value=repr(exc.value))
    if isinstance(exc, BadSetting) and exc.whole:
        return tell("{name} must be a whole number above 0, not {value}", name=exc.name, value=repr(exc.value))
    if isinstance(exc, BadSetting):
        return tell("{name} must be a number above 0, not {value}", name=exc.name, value=repr(exc.value))
    return str(exc)


def main(argv: Sequence[str] | None = None, *, freeze: bool = True) -> int:
    """Run ``spsr ARGV``; its exit code. ``freeze=False`` for callers that run many commands in one
    process (tests): freezing start-up's objects is for a process's single entry point."""
    # The language is chosen before the parser is built: argparse takes each help text as it is added.
    try:
        language, unknown = language_from_env(), None
    except UnknownLanguage as exc:  # help and usage errors in English; the refusal below, as before
        language, unknown = None, exc
    with speaking(language):
        with argparse_speaking():
            parser = build_parser()
            args = parser.parse_args(argv)
            if not getattr(args, "func", None):
                parser.print_help()
                return 0
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        if not args.verbose:
            logging.getLogger("alembic").setLevel(logging.WARNING)
        try:
            clock_from_env()  # a mistyped SPSR_TODAY (or sender setting) is said once, before any command starts
            Settings.from_env()
        except ValueError as exc:
            print(f"spsr: {setting_refused(exc)}", file=sys.stderr)
            return 2
        if unknown is not None:  # said before any command starts, as a mistyped SPSR_TODAY is
            print(f"spsr: {unknown}", file=sys.stderr)
            return 2
        if freeze:
            freeze_startup()
        try:
            code = int(args.func(args) or 0)
            sys.stdout.flush()  # a reader gone away is met here, not in Python's flush at exit
            return code
        except CommandError as exc:
            print(f"spsr {args.command}: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(tell("spsr {command}: interrupted", command=args.command), file=sys.stderr)
            return 130
        except BrokenPipeError:
            # The reader went away (``spsr demo | head``): nothing more to say, and no traceback.
            # Python's own flush of stdout at exit would raise again, so it goes to /dev/null.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141  # 128 + SIGPIPE, as a shell reports a command killed by it


if __name__ == "__main__":
    sys.exit(main())
