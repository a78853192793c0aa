"""A broadcast's texts: all three languages, each within three SMS parts in its real encoding."""

from __future__ import annotations

import pytest

from core.broadcasts import MAX_SEGMENTS, check_area, check_channels, check_texts
from core.errors import InvalidInput

FINE = {"uz": "Diqqat!", "kaa": "Dıqqat!", "ru": "Внимание!"}


@pytest.mark.parametrize(("language", "text", "fits"), [
    ("uz", "a" * 459, True), ("uz", "a" * 460, False),  # GSM-7: three parts of 153
    ("uz", "ʻ" * 459, True),  # sent as "'" (GSM-7 spelling), so it still fits
    ("ru", "ж" * 201, True), ("ru", "ж" * 202, False),  # UCS-2: three parts of 67
    ("kaa", "ń" * 229, True), ("kaa", "ń" * 230, False),  # spelt n' for GSM-7: two characters each
    ("uz", "€" * 230, False),  # an extension character costs two septets
])
def test_a_text_is_measured_as_it_is_sent(language: str, text: str, fits: bool) -> None:
    texts = {**FINE, language: text}
    if fits:
        assert check_texts(texts)[language] == text
    else:
        with pytest.raises(InvalidInput) as refused:
            check_texts(texts)
        assert refused.value.code == "broadcast.text_too_long" and refused.value.params["limit"] == MAX_SEGMENTS


@pytest.mark.parametrize("texts", [{"uz": "Diqqat!", "ru": "Внимание!"}, {**FINE, "kaa": "  "}])
def test_every_language_is_required(texts: dict[str, str]) -> None:
    with pytest.raises(InvalidInput, match="broadcast.missing_text"):
        check_texts(texts)


def test_channels_and_area_codes() -> None:
    assert check_channels(("sms", "telegram", "sms")) == ("telegram", "sms")
    for bad in ((), ("fax",)):
        with pytest.raises(InvalidInput):
            check_channels(bad)
    assert check_area("district", "1726262") == "1726262"
    for kind, code in [("region", "172"), ("district", "1726"), ("mahalla", "12a"), ("oblast", "1726")]:
        with pytest.raises(InvalidInput, match="broadcast.unknown_area"):
            check_area(kind, code)
