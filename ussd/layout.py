"""Laying a flow's screen out on a USSD display, by its real encoded size.

Uzbek and Karakalpak are respelt with ``gsm_spelling`` so they travel in GSM 7-bit (182 characters
a screen); Russian is UCS-2 (80). A screen that does not fit is cut into pages: every page but the
last ends with "98 More", and "0" on a later page goes back a page (handled by the runner).
"""

from __future__ import annotations

from core.flows import Screen
from core.gsm import fits_ussd
from core.i18n import Words, _
from core.text import gsm_spelling


def _fits(lines: list[str]) -> bool:
    return fits_ussd("\n".join(lines))


def _split_long(line: str, room: list[str]) -> list[str]:
    """Cut a line too long for any page into pieces at spaces (characters, if there are none)."""
    words = line.split(" ")
    pieces: list[str] = []
    current = ""
    for word in words:
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


class UssdPager:
    """The USSD layout (see module docstring); an instance is stateless and shareable."""

    def pages(self, screen: Screen, language: str) -> list[str]:
        def spell(text: str) -> str:
            return gsm_spelling(text, language)

        body: list[str] = []
        if screen.error:
            body.append(screen.error)
        if screen.title:
            body.append(screen.title)
        if screen.text:
            body.extend(screen.text.split("\n"))
        body.extend(f"{o.key} {o.label}" for o in screen.options)
        footer: list[str] = []
        if not screen.end:
            controls = []
            if screen.back:
                controls.append(f"0 {_(Words.BACK)}")
            if screen.home:
                controls.append(f"00 {_(Words.HOME)}")
            if controls:
                footer.append(" ".join(controls))
        body = [spell(line) for line in body]
        footer = [spell(line) for line in footer]
        more = spell(f"98 {_(Words.MORE)}")

        pages: list[str] = []
        current: list[str] = []
        queue = list(body)
        while queue:
            line = queue.pop(0)
            if not queue and _fits([*current, line, *footer]):
                current.append(line)
            elif _fits([*current, line, more]):
                current.append(line)
            elif not current:
                queue[:0] = _split_long(line, [more])
            else:
                pages.append("\n".join([*current, more]))
                current = []
                queue.insert(0, line)
        # The last lines fitted beside "98 More" but not beside the footer: carry them over.
        carried: list[str] = []
        while current and not _fits([*current, *footer]):
            carried.insert(0, current.pop())
        if carried:
            if current:
                pages.append("\n".join([*current, more]))
            for piece in _split_long(" ".join(carried), [*footer])[:-1]:
                pages.append("\n".join([piece, more]))
            current = _split_long(" ".join(carried), [*footer])[-1:]
        pages.append("\n".join([*current, *footer]))
        return pages
