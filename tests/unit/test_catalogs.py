"""The catalogs are complete: every string of the code translated in uz, kaa and ru, every form."""

from __future__ import annotations

import pytest
from babel.messages.catalog import Catalog
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from core.i18n import SUPPORTED
from locales import catalogs


def _read(locale: str | None = None) -> Catalog:
    path = catalogs.TEMPLATE if locale is None else catalogs.po_path(locale)
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def _forms(value: str | tuple[str, ...] | list[str] | None) -> list[str]:
    if value is None:
        return [""]
    return [value] if isinstance(value, str) else list(value)


def _ids(catalog: Catalog) -> set[tuple[object, str | None]]:
    return {(m.id if isinstance(m.id, str) else tuple(m.id), m.context) for m in catalog if m.id}


def test_the_catalog_tool_covers_our_locales() -> None:
    assert catalogs.LOCALES == SUPPORTED


def test_check_finds_nothing() -> None:
    # Fails when a marked string was added or removed without `extract` and `update`, or left
    # untranslated: run `python -m locales.catalogs check` for the details.
    assert catalogs.check() == []


def test_template_matches_the_code() -> None:
    assert _ids(catalogs.extract()) == _ids(_read())


@pytest.mark.parametrize("locale", SUPPORTED)
def test_every_template_msgid_is_in_the_po(locale: str) -> None:
    assert _ids(_read(locale)) == _ids(_read())


@pytest.mark.parametrize("locale", SUPPORTED)
def test_no_untranslated_or_fuzzy_entry(locale: str) -> None:
    for message in _read(locale):
        if not message.id:
            continue
        forms = _forms(message.string)
        assert all(forms), f"{locale}: {message.id!r} is untranslated"
        assert not message.fuzzy, f"{locale}: {message.id!r} is fuzzy"


@pytest.mark.parametrize(("locale", "nplurals"), [("uz", 2), ("kaa", 2), ("ru", 3)])
def test_plural_forms_header_and_entries(locale: str, nplurals: int) -> None:
    catalog = _read(locale)
    assert catalog.num_plurals == nplurals
    assert dict(catalog.mime_headers)["Plural-Forms"] == get_plural(locale).plural_forms
    plurals = [m for m in catalog if m.pluralizable]
    assert plurals, "the starter set has plural entries"
    for message in plurals:
        assert len(_forms(message.string)) == nplurals, message.id


@pytest.mark.parametrize("locale", SUPPORTED)
def test_placeholders_match(locale: str) -> None:
    for message in _read(locale):
        if not message.id:
            continue
        ids = _forms(message.id)
        forms = _forms(message.string)
        expected = frozenset().union(*(catalogs.placeholders(i) for i in ids))
        for form in forms:
            assert catalogs.placeholders(form) <= expected, (locale, message.id, form)
        assert catalogs.placeholders(forms[-1]) == expected, (locale, message.id)


def test_placeholder_parsing() -> None:
    assert catalogs.placeholders("{count} kun, {amount:,} soʻm") == {"count", "amount"}
    assert catalogs.placeholders("{{literal}} and {user.name}") == {"user"}


def test_problems_are_reported() -> None:
    from babel.messages.catalog import Message

    bad = Message(("{count} day", "{count} days"), ("{count} день", "", "дней"), flags={"fuzzy"})
    found = list(catalogs.message_problems("ru", bad, 3))
    assert any("fuzzy" in p for p in found) and any("untranslated" in p for p in found)
    wrong = Message("{count} month", "{n} oy")
    assert list(catalogs.message_problems("uz", wrong, 2))


@pytest.mark.parametrize("locale", ["uz", "kaa"])
def test_latin_translations_use_the_right_letters(locale: str) -> None:
    for message in _read(locale):
        forms = _forms(message.string)
        for form in forms:
            # Uzbek oʻ gʻ take U+02BB and the tutuq U+02BC, never a typed apostrophe or quote.
            assert not set(form) & set("'`\u2018\u2019"), (locale, form)
            if locale == "uz":
                assert not set(form) & set("áóúıńǵ"), form
