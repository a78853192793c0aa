"""``spsr --help`` and argparse's own words (usage, section titles, usage errors) follow the
operator's language (spsr.language, spsr.argparse_words); English is word for word as before."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from spsr.argparse_words import argparse_speaking
from spsr.cli import build_parser, main
from spsr.language import speaking

#: argparse wraps help to the terminal's width, which it reads from COLUMNS.
WIDTH = "100"


@pytest.fixture(autouse=True)
def fixed_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", WIDTH)


def spsr(language: str, *argv: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """``SPSR_LANGUAGE=language spsr ARGV`` in this process: exit code, stdout, stderr (``--help``
    and usage errors leave through SystemExit, as they do from the entry point)."""
    monkeypatch.setenv("SPSR_LANGUAGE", language)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv), freeze=False)
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


# What `spsr` printed before its help was translated (main at 4372c66, COLUMNS=100).
ENGLISH = {
    ("payroll", "open", "--help"): (0, """\
usage: spsr payroll open [-h] --month MONTH [--regenerate] [--by BY]

options:
  -h, --help     show this help message and exit
  --month MONTH  YYYY-MM
  --regenerate   replace the lines (before approval only)
  --by BY        who acts (default: $USER)
""", ""),
    ("clients", "rotate", "--help"): (0, """\
usage: spsr clients rotate [-h] [--expires DAYS] [--keep-old HOURS] name

Give an active client a new key and print it (shown once). The old key stops at once (a running
server may take it for up to 5 s more), as it must when it leaked; --keep-old HOURS keeps it
working that long beside the new one, so the agency can move every system to the new key without
an outage (a key an earlier rotation kept stops now). The role and rate stay, and so does the
expiry unless --expires sets a new one.

positional arguments:
  name

options:
  -h, --help        show this help message and exit
  --expires DAYS    the new key expires after DAYS days
  --keep-old HOURS  the old key still works for HOURS hours (at most 720; default 0)
""", ""),
    ("payroll", "open"): (2, "", """\
usage: spsr payroll open [-h] --month MONTH [--regenerate] [--by BY]
spsr payroll open: error: the following arguments are required: --month
"""),
    ("clients", "add", "x", "--role", "nope"): (2, "", """\
usage: spsr clients add [-h] --role {agency,hotline,operator,auditor,admin} [--expires DAYS]
                        [--rate PER_MINUTE]
                        name
spsr clients add: error: argument --role: invalid choice: 'nope' (choose from 'agency', 'hotline', \
'operator', 'auditor', 'admin')
"""),
    ("assess", "--chunk", "x"): (2, "", """\
usage: spsr assess [-h] [--all] [--chunk CHUNK] [--quiet]
spsr assess: error: argument --chunk: 'x' is not a whole number of 1 or more
"""),
    ("exchange", "import", "f.jsonl", "--batch", "0"): (2, "", """\
usage: spsr exchange import [-h] [--batch BATCH] [--quiet] file
spsr exchange import: error: argument --batch: '0' is not a whole number from 1 to 10,000
"""),
}


@pytest.mark.parametrize("argv", list(ENGLISH))
def test_english_help_and_usage_errors_are_word_for_word_the_old_ones(
        argv: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("USER", raising=False)  # --by's default is not in the help: only its wording
    assert spsr("en", *argv, monkeypatch=monkeypatch) == ENGLISH[argv]


def test_the_top_help_in_english_lists_every_command_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = spsr("en", "--help", monkeypatch=monkeypatch)
    assert code == 0
    assert out.startswith("usage: spsr [-h] [-v] COMMAND ...\n\n"
                          "Citizen gateway of Uzbekistan's Social Protection Single Registry.\n\n"
                          "positional arguments:\n  COMMAND\n"
                          "    assess       re-assess changed households; enrol, end and notify families\n")
    assert "\noptions:\n  -h, --help     show this help message and exit\n  -v, --verbose  log debug output\n" in out


def test_russian_help_of_spsr(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = spsr("ru", "--help", monkeypatch=monkeypatch)
    assert (code, err) == (0, "")
    assert out.startswith("Использование: spsr [-h] [-v] КОМАНДА ...\n\n"
                          "Шлюз для граждан к Единому реестру социальной защиты Узбекистана.\n\n"
                          "Позиционные аргументы:\n  КОМАНДА\n")
    assert "    payroll      открыть, утвердить, выгрузить и сверить ведомость за месяц\n" in out
    assert "\nПараметры:\n  -h, --help     показать эту справку и выйти\n" in out
    assert "SPSR_LANGUAGE=uz|kaa|ru|en — язык, на котором" in out


def test_russian_help_of_payroll_open(monkeypatch: pytest.MonkeyPatch) -> None:
    assert spsr("ru", "payroll", "open", "--help", monkeypatch=monkeypatch) == (0, """\
Использование: spsr payroll open [-h] --month МЕСЯЦ [--regenerate] [--by КТО]

Параметры:
  -h, --help     показать эту справку и выйти
  --month МЕСЯЦ  YYYY-MM
  --regenerate   заменить строки (только до утверждения)
  --by КТО       кто выполняет действие (по умолчанию: $USER)
""", "")


def test_a_missing_required_argument_in_uzbek(monkeypatch: pytest.MonkeyPatch) -> None:
    assert spsr("uz", "payroll", "open", monkeypatch=monkeypatch) == (2, "", """\
Foydalanish: spsr payroll open [-h] --month OY [--regenerate] [--by KIM]
spsr payroll open: xato: quyidagi argumentlar majburiy: --month
""")


@pytest.mark.parametrize(("argv", "said"), [
    (("clients", "add", "x", "--role", "nope"),
     "spsr clients add: qáte: --role argumenti: qáte tańlaw: 'nope' (mınalardıń birin tańlań: 'agency', "
     "'hotline', 'operator', 'auditor', 'admin')\n"),
    (("assess", "--chunk", "0"), "spsr assess: qáte: --chunk argumenti: '0' — 1 yamasa onnan úlken pútin san emes\n"),
    (("seed", "--seed", "x"), "spsr seed: qáte: --seed argumenti: int túrindegi mánis qáte: 'x'\n"),
    (("exchange", "generate", "--out"), "spsr exchange generate: qáte: --out argumenti: bir argument kerek\n"),
    (("demo", "extra"), "spsr: qáte: tanıs emes argumentler: extra\n"),  # said by the top parser, as in English
])
def test_usage_errors_in_karakalpak(argv: tuple[str, ...], said: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = spsr("kaa", *argv, monkeypatch=monkeypatch)
    assert (code, out) == (2, "")
    assert err.startswith("Paydalanıw: spsr ") and err.endswith(said), err


def test_karakalpak_help_names_its_placeholders_as_its_usage_does(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = spsr("kaa", "clients", "rotate", "--help", monkeypatch=monkeypatch)
    assert code == 0
    assert out.startswith("Paydalanıw: spsr clients rotate [-h] [--expires KÚN] [--keep-old SAAT] at\n")
    assert "--keep-old SAAT onı jańası menen qatar" in out  # the description's HOURS
    assert "  --expires KÚN    jańa giltiń múddeti KÚN kúnnen keyin tamamlanadı\n" in out
    assert "\nPozitsiyalıq argumentler:\n  at\n\nParametrler:\n" in out


def test_numbers_in_help_are_grouped_as_the_language_groups_them(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "(at most 10,000)" in spsr("en", "exchange", "import", "--help", monkeypatch=monkeypatch)[1]
    assert "(не более 10 000)" in spsr("ru", "exchange", "import", "--help", monkeypatch=monkeypatch)[1]
    _, _, err = spsr("uz", "exchange", "import", "f", "--batch", "0", monkeypatch=monkeypatch)
    assert err.endswith("--batch argumenti: '0' — 1 dan 10 000 gacha boʻlgan butun son emas\n")


def test_an_unknown_language_keeps_help_and_usage_errors_in_english(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    code, out, _ = spsr("russian", "payroll", "open", "--help", monkeypatch=monkeypatch)
    assert code == 0 and out.startswith("usage: spsr payroll open")
    code, _, err = spsr("russian", "payroll", "open", monkeypatch=monkeypatch)
    assert code == 2 and err.endswith("spsr payroll open: error: the following arguments are required: --month\n")
    code, out, err = spsr("russian", "payroll", "open", "--month", "2027-01", monkeypatch=monkeypatch)
    assert (code, out) == (2, "")
    assert err.startswith("spsr: SPSR_LANGUAGE='russian' is not a language spsr speaks: set it to uz (Oʻzbekcha)")


def test_the_posix_locale_chooses_the_help_s_language_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    code, out, _ = spsr("", "db", "--help", monkeypatch=monkeypatch)
    assert code == 0 and out.startswith("Использование: spsr db [-h] ДЕЙСТВИЕ ...\n")


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


def _texts(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str | None]]:
    """Every text of the parser tree a person reads, with where it is."""
    for p in _parsers(parser):
        yield f"{p.prog} description", p.description
        yield f"{p.prog} epilog", p.epilog
        for action in p._actions:
            where = f"{p.prog} {'/'.join(action.option_strings) or action.dest}"
            yield f"{where} help", action.help
            yield f"{where} metavar", action.metavar if isinstance(action.metavar, str) else None
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    yield f"{p.prog} {choice.dest} help", choice.help


#: Texts that are the same in Russian: formats and names, not words.
NOT_WORDS = frozenset({"YYYY-MM"})


def _tree(language: str | None) -> list[tuple[str, str | None]]:
    with speaking(language), argparse_speaking():  # type: ignore[arg-type]
        return list(_texts(build_parser()))


def test_every_help_text_metavar_description_and_epilog_is_translated() -> None:
    english, russian = _tree(None), _tree("ru")
    assert [where for where, _ in english] == [where for where, _ in russian]
    for (where, en), (_, ru) in zip(english, russian, strict=True):
        if en is None or en in NOT_WORDS or en.startswith("==SUPPRESS=="):
            assert ru == en, where
        else:
            assert ru != en, f"{where}: {en!r} is not translated"


@pytest.mark.parametrize("language", ["uz", "kaa", "ru"])
def test_every_command_s_help_renders_in_every_language(language: str) -> None:
    with speaking(language), argparse_speaking():  # type: ignore[arg-type]
        for parser in _parsers(build_parser()):
            assert parser.format_help()  # a stray % in a translation would raise here


def test_argparse_speaks_english_to_everyone_else(monkeypatch: pytest.MonkeyPatch) -> None:
    original = argparse._  # type: ignore[attr-defined]
    spsr("ru", "payroll", "open", "--help", monkeypatch=monkeypatch)
    assert argparse._ is original  # type: ignore[attr-defined]
    with speaking("ru"), argparse_speaking():
        with speaking(None):  # another context during the command line's parse: argparse as it was
            assert argparse.ArgumentParser(prog="x").format_help() == (
                "usage: x [-h]\n\noptions:\n  -h, --help  show this help message and exit\n")
    assert argparse.ArgumentParser(prog="x").format_usage() == "usage: x [-h]\n"


def test_the_installed_command_speaks_russian_and_uzbek() -> None:
    command = Path(sys.executable).with_name("spsr")
    env = {**os.environ, "COLUMNS": WIDTH, "SPSR_LANGUAGE": "ru"}
    shown = subprocess.run([command, "payroll", "open", "--help"], env=env, capture_output=True, text=True,
                           check=False)
    assert shown.returncode == 0
    assert shown.stdout.startswith("Использование: spsr payroll open [-h] --month МЕСЯЦ [--regenerate] [--by КТО]\n")
    assert "  --regenerate   заменить строки (только до утверждения)\n" in shown.stdout
    refused = subprocess.run([command, "payroll", "open"], env={**env, "SPSR_LANGUAGE": "uz"},
                             capture_output=True, text=True, check=False)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr.endswith("spsr payroll open: xato: quyidagi argumentlar majburiy: --month\n")
