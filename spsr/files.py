"""The files a command reads and writes, with a plain answer when one cannot be used.

Every command that takes a path goes through these: a missing file, a directory or a folder that
does not exist is a :class:`CommandError` (``spsr`` prints it and exits 2), never a traceback; inputs
are read as bytes, so that each reader decodes line by line and refuses a line that is not UTF-8
alone; an output file appears whole or not at all, so a refused or failed command leaves an
existing file as it was, and is written through a symbolic link, never in place of what is not a
file (a FIFO, a device).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from spsr.language import tell


class CommandError(Exception):
    """A problem the person at the command line can fix; its text is the whole message, in the
    operator's language (spsr.language)."""


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise CommandError(tell("{path}: no such file", path=path))
    if path.is_dir():
        raise CommandError(tell("{path}: is a folder, not a file", path=path))


@contextlib.contextmanager
def binary_input(path: Path) -> Iterator[BinaryIO]:
    """``path`` opened for reading bytes (a reader that decodes line by line can reject one bad
    line and go on)."""
    _check_readable(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise CommandError(tell("{path}: cannot be read ({reason})", path=path, reason=exc.strerror)) from exc
    with handle:
        yield handle


@contextlib.contextmanager
def output_file(path: Path) -> Iterator[TextIO]:
    """A UTF-8 text file written beside ``path`` and put in its place only when the block ends
    without an error: a refused export never empties the file a previous one wrote.

    A symbolic link is written through (the file it points to is replaced; the link stays). An
    existing file keeps its permissions, and one that may not be written is refused; a new file
    is readable by its owner alone (0600), since what is written holds personal data. Anything
    else that exists (a FIFO, a device, a socket) is refused: a file put in its place would
    replace it, not write to it. Whatever happens, no temporary file is left behind.
    """
    target = _through_links(path)
    mode = _replaceable_mode(path, target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise CommandError(tell("{folder}: no such folder", folder=folder))
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise CommandError(tell("{folder}: cannot write there ({reason})", folder=folder,
                                reason=exc.strerror)) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _through_links(path: Path) -> Path:
    """The file ``path`` names: the end of its symbolic links, if it is one."""
    if not path.is_symlink():
        return path
    try:
        return path.resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links (before Python 3.13)
        raise CommandError(tell("{path}: a symbolic link that leads round in a loop", path=path)) from exc




def _replaceable_mode(path: Path, target: Path) -> int | None:
    """The permissions of the existing file ``target`` (None: there is none yet), once it is known
    to be a regular file this user may write."""
    try:
        info = target.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CommandError(tell("{path}: cannot be used ({reason})", path=path, reason=exc.strerror)) from exc
    if stat.S_ISDIR(info.st_mode):
        raise CommandError(tell("{path}: is a folder; give a file name", path=path))
    if not stat.S_ISREG(info.st_mode):
        raise CommandError(_not_a_file(path, info.st_mode))
    mode = stat.S_IMODE(info.st_mode)
    # The mode bits too: root may write anything, but a file nobody may write was made so on purpose.
    if not mode & 0o222 or not os.access(target, os.W_OK):
        raise CommandError(tell("{path}: is read-only (mode {mode}); make it writable or give another name",
                                path=path, mode=f"{mode:04o}"))
    return mode


def _not_a_file(path: Path, mode: int) -> str:
    """What stands at ``path`` instead of a file, in a whole sentence per kind."""
    if stat.S_ISFIFO(mode):
        return tell("{path}: is a named pipe (FIFO), not a file; give the name of a file to write", path=path)
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return tell("{path}: is a device, not a file; give the name of a file to write", path=path)
    if stat.S_ISSOCK(mode):
        return tell("{path}: is a socket, not a file; give the name of a file to write", path=path)
    return tell("{path}: is not a regular file, not a file; give the name of a file to write", path=path)
