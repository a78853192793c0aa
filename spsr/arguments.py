"""Argument types shared by the commands: a number out of range is a usage error naming the range."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from spsr.language import number, tell


def served_port() -> str:
    """The port ``make run`` and ``spsr serve`` listen on: PORT when it is set, else 8080; the
    simulators default to it too, so they find the server in the same shell. Text, so that
    ``serve --port``'s type checks a PORT that is not a port like a typed one."""
    return os.environ.get("PORT") or "8080"


def local_server() -> str:
    return f"http://127.0.0.1:{served_port()}"


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` (to ``high``), or a usage error saying so."""

    def parse(text: str) -> int:
        try:
            n = int(text)  # as Python reads it: surrounding spaces and 5_000 are fine
        except ValueError:
            n = None
        if n is None or n < low or (high is not None and n > high):
            if high is None:
                said = tell("{text!r} is not a whole number of {low} or more", text=text, low=number(low))
            else:
                said = tell("{text!r} is not a whole number from {low} to {high}", text=text, low=number(low),
                            high=number(high))
            raise argparse.ArgumentTypeError(said)
        return n

    return parse
