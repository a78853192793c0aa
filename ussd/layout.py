"""Laying a flow's screen out on a USSD display, by its real encoded size.

Uzbek and Karakalpak are respelt with ``gsm_spelling`` so they travel in GSM 7-bit (182 characters
a screen); Russian is UCS-2 (80). A screen that does not fit is cut into pages: every page but the
last ends with "98 More", and "0" on a later page goes back a page (handled by the runner).

Pages are filled as far as they go, so that what matters (an application number, an amount) comes
early: a long line is carried over at a sentence end, or failing that between words, but never
inside a number ("6 355 000 сум", "1 января") nor inside an option.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.flows import Screen
from core.gsm import fits_ussd
from core.i18n import Words, _
from core.text import gsm_spelling

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")


def _fits(lines: list[str]) -> bool:
    return fits_ussd("\n".join(lines))


def _words(text: str) -> list[str]:
    """Words that may go on different pages: a number stays with what follows it (its thousands,
    its unit, its month) and the Russian "г." stays with its year."""
    out: list[str] = []
    for word in text.split(" "):
        if out and (out[-1][-1:].isdigit() or word in ("г.", "г")):
            out[-1] = f"{out[-1]} {word}"
        else:
            out.append(word)
    return out


def _split_long(line: str, room: list[str]) -> list[str]:
    """Cut a line too long for any page into pieces at word ends (characters, if there are none)."""
    pieces: list[str] = []
    current = ""
    for word in _words(line):
        candidate = f"{current} {word}" if current else word
        if _fits([*room, candidate]):
            current = candidate
            continue
        if current:
            pieces.append(current)
        current = word
        while not _fits([*room, current]):  # a single enormous word
            cut = len(current) // 2
            while cut > 1 and not _fits([*room, current[:cut]]):
                cut //= 2
            pieces.append(current[:cut])
            current = current[cut:]
    if current:
        pieces.append(current)
    return pieces


@dataclass(frozen=True)
class _Unit:
    text: str
    joins: bool  # continues the previous unit's line (when both land on one page)


def _units(body: list[tuple[str, bool]]) -> list[_Unit]:
    """Body lines as units: text lines cut into sentences, options whole."""
    units: list[_Unit] = []
    for line, splittable in body:
        parts = _SENTENCE_END.split(line) if splittable else [line]
        units.extend(_Unit(part, i > 0) for i, part in enumerate(parts))
    return units


def _pack(units: list[_Unit], footer: list[str], more: str) -> list[str]:
    pages: list[list[str]] = []
    current: list[str] = []

    def place(unit: _Unit, last: bool) -> None:
        nonlocal current
        joined = ([*current[:-1], f"{current[-1]} {unit.text}"] if unit.joins and current
                  else [*current, unit.text])
        if _fits([*joined, more]) or (last and _fits([*joined, *footer])):
            current = joined
            return
        if current:
            pages.append([*current, more])
            current = []
        if _fits([unit.text, more]):
            current = [unit.text]
            return
        pieces = _split_long(unit.text, [more])
        for piece in pieces[:-1]:
            pages.append([piece, more])
        current = pieces[-1:]

    for i, unit in enumerate(units):
        place(unit, i == len(units) - 1)
    if _fits([*current, *footer]):
        pages.append([*current, *footer])
    else:
        # The last lines fitted beside "98 More" but not beside the footer: carry a few over.
        for k in range(1, len(current) + 1):
            head, tail = current[:-k], current[-k:]
            if _fits([*tail, *footer]):
                if head:
                    pages.append([*head, more])
                pages.append([*tail, *footer])
                break
        else:
            for piece in _split_long(" ".join(current), [*footer, more])[:-1] if current else []:
                pages.append([piece, more])
            last = _split_long(" ".join(current), [*footer])[-1:] if current else []
            pages.append([*last, *footer])
    return ["\n".join(page) for page in pages]


class UssdPager:
    """The USSD layout (see module docstring); an instance is stateless and shareable."""

    def pages(self, screen: Screen, language: str) -> list[str]:
        pages = self._layout(screen, language, title=True, text=True)
        if screen.error and len(pages) > 1:
            # The person has just seen this screen: the refusal and the options matter more than
            # the title, and on a typed answer the refusal says what to send again.
            pages = self._layout(screen, language, title=False, text=True)
            if screen.free_text and len(pages) > 1:
                pages = self._layout(screen, language, title=False, text=False)
        return pages

    def _layout(self, screen: Screen, language: str, *, title: bool, text: bool) -> list[str]:
        def spell(text: str) -> str:
            return gsm_spelling(text, language)

        body: list[tuple[str, bool]] = []
        if screen.error:
            body.append((screen.error, True))
        if screen.title and title:
            body.append((screen.title, True))
        if screen.text and text:
            body.extend((line, True) for line in screen.text.split("\n"))
        body.extend((f"{o.key} {o.label}", False) for o in screen.options)
        footer: list[str] = []
        if not screen.end:
            controls = []
            if screen.back:
                controls.append(f"0 {_(Words.BACK)}")
            if screen.home:
                controls.append(f"00 {_(Words.MENU)}")
            if controls:
                footer.append(spell(" ".join(controls)))
        more = spell(f"98 {_(Words.MORE)}")
        return _pack(_units([(spell(line), splittable) for line, splittable in body]), footer, more)
