"""The files a command reads and writes, with a plain answer when one cannot be used.

Every command that takes a path goes through these: a missing file, a directory or a folder that
does not exist is a :class:`CommandError` (``spsr`` prints it and exits 2), never a traceback; inputs
are read as bytes, so that each reader decodes line by line and refuses a line that is not UTF-8
alone; an output file appears whole or not at all, so a refused or failed command leaves an
existing file as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO


class CommandError(Exception):
    """A problem the person at the command line can fix; its text is the whole message."""


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise CommandError(f"{path}: no such file")
    if path.is_dir():
        raise CommandError(f"{path}: is a folder, not a file")


@contextlib.contextmanager
def binary_input(path: Path) -> Iterator[BinaryIO]:
    """``path`` opened for reading bytes (a reader that decodes line by line can reject one bad
    line and go on)."""
    _check_readable(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise CommandError(f"{path}: cannot be read ({exc.strerror})") from exc
    with handle:
        yield handle


@contextlib.contextmanager
def output_file(path: Path) -> Iterator[TextIO]:
    """A UTF-8 text file written beside ``path`` and put in its place only when the block ends
    without an error: a refused export never empties the file a previous one wrote."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise CommandError(f"{path}: is a folder; give a file name")
    if not folder.is_dir():
        raise CommandError(f"{folder}: no such folder")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise CommandError(f"{folder}: cannot write there ({exc.strerror})") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
