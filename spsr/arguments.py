"""Argument types shared by the commands: a number out of range is a usage error naming the range."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` (to ``high``), or a usage error saying so."""

    def parse(text: str) -> int:
        try:
            n = int(text)  # as Python reads it: surrounding spaces and 5_000 are fine
        except ValueError:
            n = None
        if n is None or n < low or (high is not None and n > high):
            bounds = f"from {low:,} to {high:,}" if high is not None else f"of {low:,} or more"
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number {bounds}")
        return n

    return parse
