"""Manage the gettext catalogs: ``python -m locales.catalogs extract|update|compile|check``.

* ``extract`` — collect the marked strings of core/, ussd/, bots/, registry_api/ and spsr/ into
  ``locales/messages.pot``;
* ``update``  — merge the template into ``locales/<locale>/LC_MESSAGES/messages.po`` (creating it),
  new strings arrive untranslated, changed ones as fuzzy;
* ``compile`` — write the ``.mo`` files (optional: ``core.i18n`` compiles stale ones in memory);
* ``check``   — fail on a stale template, a .po that does not match it, an untranslated or fuzzy
  entry, a missing plural form, a wrong Plural-Forms header or mismatched ``{placeholders}``.

Files are rewritten only when something other than their dates changed, so that runs by several
people do not conflict on timestamps. Locations are written without line numbers for the same reason.
"""

from __future__ import annotations

import argparse
import io
import string
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po

from locales import CATALOG_DIR, DOMAIN

PROJECT_ROOT: Final = CATALOG_DIR.parent
SOURCE_DIRS: Final = ("core", "ussd", "bots", "registry_api", "spsr")
LOCALES: Final = ("uz", "kaa", "ru")
KEYWORDS: Final[dict[str, Any]] = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "N_": None,
    "N_plural": (1, 2),
    "pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "lazy_gettext": None,
    # The command line's own (spsr.language): English by default, so not core.i18n's gettext.
    "tr": None,
    "tell": None,
    "ptr": ((1, "c"), 2),
    "ntr": (1, 2),
    "ntell": (1, 2),
}
#: A comment starting with this just above a marked string reaches the translators.
COMMENT_TAGS: Final = ("Translators:",)
TEMPLATE: Final = CATALOG_DIR / f"{DOMAIN}.pot"
MAPPING: Final = CATALOG_DIR / "babel.cfg"
_HEADER: Final = (
    "# Translations of the SPSR citizen gateway.\n"
    "# Managed with `python -m locales.catalogs`; edit msgstr lines only.\n#"
)
_DATE_HEADERS: Final = (b'"POT-Creation-Date:', b'"PO-Revision-Date:')

Key = tuple[str | tuple[str, ...], str | None]


def po_path(locale: str) -> Path:
    return CATALOG_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def _new_catalog(locale: str | None = None) -> Catalog:
    return Catalog(
        locale=locale, domain=DOMAIN, header_comment=_HEADER, project="spsr", version="main",
        last_translator="SPSR team", language_team="SPSR team", charset="utf-8", fuzzy=False,
    )


def extract() -> Catalog:
    """The template as the sources are now (nothing written)."""
    with MAPPING.open() as fh:
        method_map, options_map = parse_mapping_cfg(fh, str(MAPPING))  # type: ignore[no-untyped-call]
    catalog = _new_catalog()
    for folder in SOURCE_DIRS:
        root = PROJECT_ROOT / folder
        if not root.is_dir():
            continue
        for filename, lineno, message, comments, context in extract_from_dir(
            root, method_map, options_map, keywords=KEYWORDS,
            comment_tags=COMMENT_TAGS, strip_comment_tags=True,
        ):
            catalog.add(message, None, [(f"{folder}/{filename}", lineno)],
                        auto_comments=comments, context=context)
    return catalog


def _render(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_po(buf, catalog, sort_output=True, ignore_obsolete=True, include_lineno=False)
    return buf.getvalue()


def _without_dates(data: bytes) -> list[bytes]:
    return [line for line in data.splitlines() if not line.startswith(_DATE_HEADERS)]


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and _without_dates(path.read_bytes()) == _without_dates(data):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def write_template() -> bool:
    return _write_if_changed(TEMPLATE, _render(extract()))


def update() -> list[Path]:
    """Merge the template into every locale's .po; returns the files that changed."""
    template = _read(TEMPLATE)
    changed = []
    for locale in LOCALES:
        path = po_path(locale)
        catalog = _read(path, locale) if path.exists() else _new_catalog(locale)
        catalog.update(template)
        if _write_if_changed(path, _render(catalog)):
            changed.append(path)
    return changed


def compile_all() -> list[str]:
    """Write every locale's .mo; returns problems that stopped a compile."""
    errors = []
    for locale in LOCALES:
        catalog = _read(po_path(locale), locale)
        found = [f"{locale}: {m.id!r}: {e}" for m, errs in catalog.check() for e in errs]
        if found:
            errors.extend(found)
            continue
        buf = io.BytesIO()
        write_mo(buf, catalog, use_fuzzy=False)
        po_path(locale).with_suffix(".mo").write_bytes(buf.getvalue())
    return errors


def placeholders(text: str) -> frozenset[str]:
    """Named (and positional) ``str.format`` fields of a message: ``{count}`` → ``{"count"}``."""
    return frozenset(field.split(".")[0].split("[")[0]
                     for _, field, _, _ in string.Formatter().parse(text) if field is not None)


def _forms(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return [""]
    return [value] if isinstance(value, str) else list(value)


def _key(message: Message) -> Key:
    msgid = message.id
    return (msgid if isinstance(msgid, str) else tuple(msgid), message.context)


def _keys(catalog: Catalog) -> set[Key]:
    return {_key(m) for m in catalog if m.id}


def _describe(key: Key) -> str:
    msgid, context = key
    text = msgid if isinstance(msgid, str) else msgid[0]
    return f"{context}|{text!r}" if context else repr(text)


def message_problems(locale: str, message: Message, num_plurals: int) -> Iterable[str]:
    """What is wrong with one translated entry."""
    where = f"{locale}: {_describe(_key(message))}"
    if message.fuzzy:
        yield f"{where} is fuzzy"
    forms = _forms(message.string)
    if not all(forms):
        yield f"{where} is untranslated"
        return
    ids = _forms(message.id)
    expected = frozenset().union(*(placeholders(i) for i in ids))
    if message.pluralizable:
        if len(forms) != num_plurals:
            yield f"{where} has {len(forms)} plural forms, needs {num_plurals}"
        # A form may leave out the number (Uzbek "bir kun"), but never bring in a new field, and
        # the last, general form must carry every field.
        for form in forms:
            if not placeholders(form) <= expected:
                yield f"{where}: {form!r} has placeholders not in the msgid"
        if placeholders(forms[-1]) != expected:
            yield f"{where}: last plural form must use {sorted(expected)}"
    elif placeholders(forms[0]) != expected:
        yield f"{where}: placeholders {sorted(placeholders(forms[0]))} != msgid's {sorted(expected)}"


def check() -> list[str]:
    """Every problem with the catalogs, as lines for a person; empty when all is well."""
    problems: list[str] = []
    if not TEMPLATE.exists():
        return [f"{TEMPLATE} is missing: run `python -m locales.catalogs extract`"]
    template = _read(TEMPLATE)
    wanted = _keys(template)
    current = _keys(extract())
    for key in sorted(current - wanted, key=str):
        problems.append(f"messages.pot lacks {_describe(key)}: run extract and update")
    for key in sorted(wanted - current, key=str):
        problems.append(f"messages.pot has {_describe(key)}, no longer in the code: run extract and update")
    for locale in LOCALES:
        path = po_path(locale)
        if not path.exists():
            problems.append(f"{locale}: {path} is missing: run update")
            continue
        catalog = _read(path, locale)
        expected_plural = get_plural(locale)
        header = catalog.mime_headers
        headers = dict(header)
        if headers.get("Plural-Forms") != expected_plural.plural_forms:
            problems.append(f"{locale}: Plural-Forms is {headers.get('Plural-Forms')!r}, "
                            f"expected {expected_plural.plural_forms!r}")
        if headers.get("Language") != locale:
            problems.append(f"{locale}: Language header is {headers.get('Language')!r}")
        have = _keys(catalog)
        for key in sorted(wanted - have, key=str):
            problems.append(f"{locale}: lacks {_describe(key)}: run update")
        for key in sorted(have - wanted, key=str):
            problems.append(f"{locale}: has {_describe(key)}, not in messages.pot: run update")
        if catalog.obsolete:
            problems.append(f"{locale}: has {len(catalog.obsolete)} obsolete entries: run update")
        for message in catalog:
            if message.id:
                problems.extend(message_problems(locale, message, expected_plural.num_plurals))
        problems.extend(f"{locale}: {_describe(_key(m))}: {e}"
                        for m, errs in catalog.check() for e in errs)
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m locales.catalogs", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("extract", "update", "compile", "check"))
    command = parser.parse_args(argv).command
    if command == "extract":
        print(f"{TEMPLATE}: {'written' if write_template() else 'unchanged'}")
        return 0
    if command == "update":
        for path in update():
            print(f"{path}: updated")
        return 0
    if command == "compile":
        errors = compile_all()
    else:
        errors = check()
    for line in errors:
        print(line, file=sys.stderr)
    if not errors:
        print(f"{command}: ok")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
