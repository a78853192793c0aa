"""Batch files of agency records (JSON lines, or CSV with a header), read record by record.

Pure: the lines come in as bytes and go out as :class:`ParsedLine` (the raw record, or why it
could not be read). A JSON line is read as the API reads a body (:func:`core.exchange.strict_json`),
so a file and a request never differ on the same record. A CSV record follows the csv module's
rules: a quoted field may hold a line break, and such a record is one record, numbered by its
first line.
"""

from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInput
from core.exchange import REQUIRED, DuplicateField, echo, strict_json

# A CSV header names these columns, in any order, in any case; ``key`` and ``unit`` may be left
# out, other columns are ignored.
CSV_COLUMNS = ("agency", "item", "pinfl", "key", "value", "unit", "as_of", "record_id")
CSV_SEPARATORS = (",", ";", "\t")  # spreadsheets set to a decimal comma save with ';'
# A problem with a whole file, raised before any of its records is read.
FILE_ERROR_CODES: tuple[str, ...] = (
    "exchange.not_text",
    "exchange.csv_header",
    "exchange.duplicate_column",
    "exchange.csv_as_jsonl",
)
# A quoted field still open after this many lines is a stray quote, not a long value (no value
# the catalogue takes is longer than 80 characters): its first line is refused, the rest re-read.
MAX_RECORD_LINES = 10
_BOM = "\ufeff"


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """A record of a batch file: the raw record, or why it could not be read.

    ``line`` is the record's first line in the file and ``end`` its last (a CSV field may hold a
    line break); ``text`` is the record as read, kept for the list of refusals.
    """

    line: int
    record: Any = None
    error: InvalidInput | None = None
    text: str = ""
    end: int = 0

    @property
    def last(self) -> int:
        return max(self.line, self.end)


@dataclass(frozen=True, slots=True)
class CsvHeader:
    names: tuple[str, ...]
    delimiter: str


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    text: str
    ends_file: bool  # the file ends on it, with no newline
    utf8: bool = True


def _csv_row(text: str, delimiter: str) -> list[str]:
    return next(csv.reader([text], delimiter=delimiter, strict=True), [])


def csv_header(text: str) -> CsvHeader:
    """The header line of a CSV batch: its column names (trimmed, lower case) and separator.

    Raises ``exchange.csv_header`` if no separator gives the required columns, and
    ``exchange.duplicate_column`` if one is named twice (which of the two would count?).
    """
    for delimiter in CSV_SEPARATORS:
        try:
            names = tuple(name.strip().lower() for name in _csv_row(text, delimiter))
        except csv.Error:
            continue
        if set(REQUIRED) <= set(names):
            twice = sorted({n for n in names if n in CSV_COLUMNS and names.count(n) > 1})
            if twice:
                raise InvalidInput("exchange.duplicate_column", column=twice[0])
            return CsvHeader(names, delimiter)
    try:
        found = {name.strip().lower() for name in _csv_row(text, ",")}
    except csv.Error:
        found = set()
    raise InvalidInput("exchange.csv_header", missing=[n for n in REQUIRED if n not in found],
                       json=text.lstrip().startswith("{"))


def _malformed(line: int, reason: str, **params: Any) -> InvalidInput:
    return InvalidInput("exchange.malformed_line", line=line, reason=reason, **params)


def _csv_parse(lines: list[_Line], header: CsvHeader) -> ParsedLine | None:
    """The record these lines make, or None while a quoted field is still open at their end."""
    first, last = lines[0].number, lines[-1].number
    text = "\n".join(line.text for line in lines)
    try:
        rows = list(csv.reader([line.text + "\n" for line in lines], delimiter=header.delimiter, strict=True))
    except csv.Error as exc:
        if str(exc) == "unexpected end of data":  # the csv module's word for an open quoted field
            return None
        return ParsedLine(first, error=_malformed(first, "quote", detail=str(exc)), text=text, end=last)
    bad = next((line.number for line in lines if not line.utf8), None)
    if bad is not None:
        return ParsedLine(first, error=InvalidInput("exchange.not_utf8", line=bad), text=text, end=last)
    if lines[-1].ends_file:
        # Refused even when it reads well: a file cut inside its last value (``31`` of ``3100000``)
        # is otherwise indistinguishable from a whole one, and storing a wrong amount is worse than
        # asking a writer that omits the final newline to add it.
        return ParsedLine(first, error=InvalidInput("exchange.truncated_line", line=first), text=text, end=last)
    row = rows[0] if len(rows) == 1 else None
    if row is None or len(row) != len(header.names):
        got = len(row) if row is not None else None
        return ParsedLine(first, error=_malformed(first, "columns", expected=len(header.names), got=got),
                          text=text, end=last)
    return ParsedLine(first, dict(zip(header.names, row, strict=True)), text=text, end=last)


def _csv_records(lines: Iterator[_Line], header: CsvHeader) -> Iterator[ParsedLine]:
    again: deque[_Line] = deque()  # lines to read anew after a stray quote was given up on
    pending: list[_Line] = []
    while True:
        line = again.popleft() if again else next(lines, None)
        if line is None:
            if not pending:
                return
            line = None  # the file ended inside a quoted field
        elif not pending and not line.text.strip():
            continue  # blank lines between records
        else:
            pending.append(line)
            parsed = _csv_parse(pending, header)
            if parsed is not None:
                yield parsed
                pending = []
                continue
            if len(pending) < MAX_RECORD_LINES and not line.ends_file:
                continue
        first = pending[0]
        code = "exchange.truncated_line" if len(pending) == 1 and first.ends_file else None
        error = InvalidInput(code, line=first.number) if code else _malformed(first.number, "unclosed_quote")
        yield ParsedLine(first.number, error=error, text=first.text, end=first.number)
        again.extendleft(reversed(pending[1:]))
        pending = []


def parse_jsonl_line(text: str, number: int, *, ends_file: bool = False) -> ParsedLine:
    """One JSON line; a broken one the file ends on (no newline) is a truncated file."""
    try:
        return ParsedLine(number, strict_json(text), text=text, end=number)
    except DuplicateField as exc:
        error = InvalidInput("exchange.duplicate_field", line=number, field=echo(exc.name))
    except ValueError as exc:
        error = (InvalidInput("exchange.truncated_line", line=number) if ends_file
                 else _malformed(number, "json", detail=echo(exc, 80)))
    return ParsedLine(number, error=error, text=text, end=number)


def _first_line_text(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidInput("exchange.not_text", reason="utf16")
    if b"\x00" in raw:
        raise InvalidInput("exchange.not_text", reason="nul")
    try:
        return raw.decode("utf-8").removeprefix(_BOM)
    except UnicodeDecodeError:
        raise InvalidInput("exchange.not_text", reason="utf8") from None


def _decoded(lines: Iterable[bytes]) -> Iterator[_Line]:
    for number, raw in enumerate(lines, 1):
        ends_file = not raw.endswith(b"\n")
        if number == 1:
            text, utf8 = _first_line_text(raw), True
        else:
            try:
                text, utf8 = raw.decode("utf-8"), True
            except UnicodeDecodeError:
                text, utf8 = raw.decode("utf-8", "replace"), False
        yield _Line(number, text.rstrip("\r\n"), ends_file, utf8)


def parse_batch_file(lines: Iterable[bytes], *, csv_format: bool) -> Iterator[ParsedLine]:
    """The records of a batch file given as its lines of bytes, in file order, blank lines skipped.

    Each line is decoded on its own, so one that is not UTF-8 is refused (``exchange.not_utf8``)
    and the others are read. A problem with the file as a whole (it is not text, a CSV header
    lacks columns) raises ``InvalidInput`` (one of :data:`FILE_ERROR_CODES`) before any record is
    yielded. Line numbers are the file's, the header's included.
    """
    decoded = _decoded(lines)
    if csv_format:
        for line in decoded:
            if line.text.strip():
                yield from _csv_records(decoded, csv_header(line.text))
                return
        return
    for line in decoded:
        if not line.text.strip():
            continue  # blank lines, before the first record too
        if not line.utf8:
            yield ParsedLine(line.number, error=InvalidInput("exchange.not_utf8", line=line.number),
                             text=line.text, end=line.number)
            continue
        parsed = parse_jsonl_line(line.text, line.number, ends_file=line.ends_file)
        if line.number == 1 and parsed.error is not None and _is_csv_header(line.text):
            raise InvalidInput("exchange.csv_as_jsonl")
        yield parsed


def _is_csv_header(text: str) -> bool:
    try:
        csv_header(text)
    except InvalidInput:
        return False
    return True


def parse_jsonl(text: str) -> list[ParsedLine]:
    """Read JSON lines from text (see :func:`parse_batch_file`)."""
    return list(parse_batch_file(io.BytesIO(text.encode("utf-8")), csv_format=False))


def parse_csv(text: str) -> list[ParsedLine]:
    """Read CSV with a header naming :data:`CSV_COLUMNS` from text (see :func:`parse_batch_file`)."""
    return list(parse_batch_file(io.BytesIO(text.encode("utf-8")), csv_format=True))
