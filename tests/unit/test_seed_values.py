"""The seed writes its agency records' values as JSON text itself: the same JSON an encoder writes."""

from __future__ import annotations

import json

import pytest

from core.seed.bulk import encode_json
from core.seed.generator import _json_value


@pytest.mark.parametrize("value", [
    0, 1_435_000, -7, True, False, "group2", 'a "quoted" \\ back\nslash', "Oʻzbekiston", "",
    {"year": 2019, "roadworthy": True, "kind": "car"}, [1, "x"], None, 2.5,
])
def test_a_value_is_written_as_the_encoder_writes_it(value: object) -> None:
    text = _json_value(value)
    assert text == encode_json(value)
    assert json.loads(text) == value
