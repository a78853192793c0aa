"""``spsr exchange import FILE`` (JSON lines or CSV) and ``spsr exchange generate --out FILE``."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from core.config import Settings
from core.errors import InvalidInput
from core.exchange import MAX_BATCH
from core.exchange_files import CSV_COLUMNS, ParsedLine, parse_batch_file
from core.i18n import N_
from core.services.exchange import IngestResult, expire_facts, generate_records, ingest
from core.storage.uow import Actor, Core
from registry_api.problems import title_of
from spsr.arguments import whole_number
from spsr.bootstrap import build_core
from spsr.commands.assess import Progress
from spsr.files import CommandError, binary_input, output_file
from spsr.interrupts import Interrupt, cancelled_by_signals
from spsr.language import core_locale, number, ptr, tell, tr

EXIT_CRASHED = 3  # not 1, which says some records were refused: the file is fine, the import is not
EXIT_STATUSES = N_("Exit status: 0 every record accepted or unchanged; 1 some refused (listed in "
                    "FILE.rejected.jsonl); 2 the file cannot be imported (nothing stored); 3 the import "
                    "stopped on an error; 130 or 143 stopped by SIGINT (Ctrl-C) or SIGTERM. When it stops, "
                    "the batch in progress is rolled back and the batches before it stay stored.")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("exchange", help=tr("import agency records; generate records for a seeded registry"))
    actions = parser.add_subparsers(dest="action", metavar=ptr("metavar", "ACTION"), required=True)
    imp = actions.add_parser(
        "import", help=tr("load a batch file (JSON lines, or CSV with a header)"),
        description=tell("Load agency records from FILE: JSON lines, or (named .csv) CSV whose first line names "
                         "the columns {columns} in any order and case, separated by ',' or ';' (key and "
                         "unit may be left out). Other JSON fields and CSV columns are ignored. One record per "
                         "line, the last one ended by a newline (a quoted CSV field may hold line breaks). "
                         "Refused records are listed in FILE.rejected.jsonl.", columns=",".join(CSV_COLUMNS)),
        epilog=tr(EXIT_STATUSES))
    imp.add_argument("file", type=Path, metavar=ptr("metavar", "file"))
    imp.add_argument("--batch", type=whole_number(1, MAX_BATCH), default=MAX_BATCH, metavar=ptr("metavar", "BATCH"),
                     help=tell("records per transaction (at most {limit})", limit=number(MAX_BATCH)))
    imp.add_argument("--quiet", action="store_true")
    imp.set_defaults(func=run_import)
    gen = actions.add_parser("generate", help=tr("write JSON lines of agency records for the registry's persons"))
    gen.add_argument("--out", type=Path, required=True, metavar=ptr("metavar", "OUT"))
    gen.add_argument("--seed", type=int, default=1140, metavar=ptr("metavar", "SEED"))
    gen.add_argument("--share", type=share, default=1.0, metavar=ptr("metavar", "SHARE"),
                     help=tr("fraction of households to cover (over 0, at most 1)"))
    gen.set_defaults(func=run_generate)
    exp = actions.add_parser("expire", help=tr("retire agency values past their validity (also run by spsr assess)"))
    exp.set_defaults(func=run_expire)


def share(text: str) -> float:
    """An argparse ``type``: a fraction over 0 and at most 1 (nan and inf are not)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 1:  # false for nan too
        raise argparse.ArgumentTypeError(tell("{text!r} is not a fraction over 0 and at most 1", text=text))
    return value


def run_expire(args: argparse.Namespace) -> int:
    async def go() -> int:
        core = await build_core(Settings.from_env())
        try:
            lapsed = await expire_facts(core)
        finally:
            await core.engine.dispose()
        print(tell("{today}: {count} values past their validity retired", today=core.clock.today(), count=lapsed))
        return 0

    return asyncio.run(go())


def read_batches(handle: BinaryIO, path: Path, size: int) -> Iterator[list[ParsedLine]]:
    """The data lines of a batch file in batches of ``size``, in file order; line numbers are the
    file's. A problem with the whole file is a :class:`CommandError` before the first batch."""
    lines = parse_batch_file(_lines(handle, path), csv_format=path.suffix.lower() == ".csv")
    batch: list[ParsedLine] = []
    try:
        for parsed in lines:
            batch.append(parsed)
            if len(batch) >= size:
                yield batch
                batch = []
    except InvalidInput as exc:
        raise CommandError(_file_problem(path, exc)) from None
    if batch:
        yield batch


def _lines(handle: BinaryIO, path: Path) -> Iterator[bytes]:
    try:
        yield from handle
    except OSError as exc:
        raise CommandError(tell("{path}: cannot be read ({reason})", path=path, reason=exc.strerror)) from exc


def _file_problem(path: Path, exc: InvalidInput) -> str:
    """The sentence for a problem with a whole batch file (``FILE_ERROR_CODES``)."""
    if exc.code == "exchange.not_text":
        if exc.params["reason"] == "utf16":
            return tell("{path}: is UTF-16 text; save it as UTF-8 text: JSON lines, or CSV with a header", path=path)
        if exc.params["reason"] == "nul":
            return tell("{path}: holds NUL bytes (binary data or UTF-16 text); save it as UTF-8 text: JSON lines, "
                        "or CSV with a header", path=path)
        return tell("{path}: line 1 is not UTF-8 text; save it as UTF-8 text: JSON lines, or CSV with a header",
                    path=path)
    if exc.code == "exchange.csv_header":
        said = dict(path=path, columns=",".join(CSV_COLUMNS), missing=", ".join(exc.params["missing"]))
        if exc.params["json"]:
            return tell("{path}: line 1 is not a CSV header naming the columns {columns} (key and unit may be "
                        "left out); missing: {missing}; it looks like JSON lines: name the file .jsonl", **said)
        return tell("{path}: line 1 is not a CSV header naming the columns {columns} (key and unit may be left "
                    "out); missing: {missing}", **said)
    if exc.code == "exchange.duplicate_column":
        return tell("{path}: the CSV header names the column {column} twice; keep one", path=path,
                    column=exc.params["column"])
    if exc.code == "exchange.csv_as_jsonl":
        return tell("{path}: line 1 is a CSV header, but the file is read as JSON lines: name it .csv", path=path)
    return f"{path}: {exc}"


def _count_lines(handle: BinaryIO) -> int:
    """Lines in the file, counted in blocks (cheap next to importing them); the handle is rewound."""
    if not handle.seekable():
        return 0  # a pipe is read once: no total
    count, last = 0, b"\n"
    for block in iter(lambda: handle.read(1 << 20), b""):
        count += block.count(b"\n")
        last = block[-1:]
    handle.seek(0)
    return count + (last != b"\n")


def run_import(args: argparse.Namespace) -> int:
    size, path = args.batch, args.file

    async def go() -> int:
        with cancelled_by_signals() as interrupt, binary_input(path) as handle:
            progress = None if args.quiet else Progress(_count_lines(handle), "lines")
            batches = read_batches(handle, path, size)
            # The first batch checks the file as a whole: a file that cannot be imported opens no
            # database and leaves no rejected file.
            first = next(batches, None)
            if first is None:
                if progress is not None:
                    progress.close()
                raise CommandError(tell("no records in {path}", path=path))
            run = _Import(path, progress, interrupt)
            try:
                core = await build_core(Settings.from_env())
                interrupt.watch(core.engine)
                try:
                    with output_file(run.rejected_path) as rejected:
                        await run.batches(core, itertools.chain([first], batches), rejected)
                finally:
                    if progress is not None:
                        progress.close()
                    await core.engine.dispose()
            except asyncio.CancelledError:  # a signal outside a batch: nothing was left half-done
                run.stopped = asyncio.CancelledError()
            return run.report()

    return asyncio.run(go())


class _Import:
    """One import's counts, and where it stopped if it did not finish."""

    def __init__(self, path: Path, progress: Progress | None, interrupt: Interrupt) -> None:
        self.path = path
        self.interrupt = interrupt
        self.progress = progress
        self.rejected_path = path.with_name(path.name + ".rejected.jsonl")
        self.total = IngestResult()
        self.records = 0  # records of the committed batches, refused ones included
        self.done_through = 0  # the last line of the last committed batch
        self.stopped: BaseException | None = None

    async def batches(self, core: Core, batches: Iterable[list[ParsedLine]], rejected: TextIO) -> None:
        try:
            for batch in batches:
                good = [p for p in batch if p.error is None]
                async with core.uow(write=True) as uow:  # see core.services.exchange.ingest
                    result = await ingest(uow, [p.record for p in good], Actor("agency", "spsr exchange", "cli"))
                    with self.interrupt.deferred():
                        await uow.commit()
                        self._count(batch, good, result, rejected)
            if self.progress is not None and self.progress.done < self.progress.total:
                self.progress(self.progress.total - self.progress.done)  # blank lines at the end
        except (Exception, KeyboardInterrupt, asyncio.CancelledError) as exc:
            # The committed batches stay, and so do the refusals listed so far; the summary says
            # where the import stopped. A CommandError (the file became unreadable) is the file's.
            if isinstance(exc, CommandError):
                raise
            self.stopped = exc

    def _count(self, batch: list[ParsedLine], good: list[ParsedLine], result: IngestResult,
               rejected: TextIO) -> None:
        total = self.total
        total.accepted += result.accepted
        total.superseded += result.superseded
        total.unchanged += result.unchanged
        total.stale += result.stale
        total.expired += result.expired
        refused = [(p, p.error.code, p.error.params) for p in batch if p.error is not None]
        refused += [(good[i], code, params) for i, code, params in result.rejected]
        for parsed, code, params in sorted(refused, key=lambda r: r[0].line):
            _reject(rejected, total, parsed, code, params)
        self.records += len(batch)
        self.done_through = batch[-1].last
        if self.progress is not None:
            self.progress(batch[-1].last - self.progress.done)

    def report(self) -> int:
        """Print the summary; the exit status (see the command's help)."""
        total, path = self.total, self.path
        print(self.summary())
        if any(code == "exchange.truncated_line" for _, code, _ in total.rejected):
            print(tell("{path}: the last line has no newline at its end, so the file may be cut off; if that "
                       "line is whole, end the file with a newline and import it again", path=path),
                  file=sys.stderr)
        if not total.rejected:
            self.rejected_path.unlink(missing_ok=True)
        if self.stopped is None:
            return 1 if total.rejected else 0
        # After a signal, whatever the cancelled statement raised (an aborted connection) is the signal's.
        crashed = isinstance(self.stopped, Exception) and self.interrupt.signal is None
        said = dict(path=path, line=self.done_through, error=_error_name(self.stopped))
        if crashed and self.done_through:
            text = tell("{path}: import stopped by an error ({error}) after line {line}; the records up to it "
                        "are stored. Importing the file again goes on from there (records already stored "
                        "count as unchanged).", **said)
        elif crashed:
            text = tell("{path}: import stopped by an error ({error}) before any record was stored. Importing "
                        "the file again goes on from there (records already stored count as unchanged).", **said)
        elif self.done_through:
            text = tell("{path}: import stopped after line {line}; the records up to it are stored. Importing "
                        "the file again goes on from there (records already stored count as unchanged).", **said)
        else:
            text = tell("{path}: import stopped before any record was stored. Importing the file again goes on "
                        "from there (records already stored count as unchanged).", **said)
        print(text, file=sys.stderr)
        return EXIT_CRASHED if crashed else self.interrupt.exit_status

    def summary(self) -> str:
        """The counts, one line; expired ones and the rejected file are named only when there are some."""
        total = self.total
        said = dict(records=self.records, accepted=total.accepted, superseded=total.superseded,
                    stale=total.stale, unchanged=total.unchanged, rejected=len(total.rejected),
                    expired=total.expired, file=self.rejected_path)
        if total.expired and total.rejected:
            return tell("{records} records: accepted {accepted}, superseded {superseded}, stale {stale}, "
                        "unchanged {unchanged}, rejected {rejected}, expired {expired} (see {file})", **said)
        if total.expired:
            return tell("{records} records: accepted {accepted}, superseded {superseded}, stale {stale}, "
                        "unchanged {unchanged}, rejected {rejected}, expired {expired}", **said)
        if total.rejected:
            return tell("{records} records: accepted {accepted}, superseded {superseded}, stale {stale}, "
                        "unchanged {unchanged}, rejected {rejected} (see {file})", **said)
        return tell("{records} records: accepted {accepted}, superseded {superseded}, stale {stale}, "
                    "unchanged {unchanged}, rejected {rejected}", **said)


def _error_name(exc: BaseException) -> str:
    """What failed, without the error's text: a database error's text holds the statement and its
    values (PINFLs among them), which have no place on a terminal or in a CI log."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    name = type(orig).__name__ if orig is not None else type(exc).__name__
    return f"{name}, SQLSTATE {code}" if code else name


def _reject(out: TextIO, total: IngestResult, parsed: ParsedLine, code: str, params: dict[str, Any]) -> None:
    total.rejected.append((parsed.line, code, params))
    out.write(rejected_entry(parsed, code, params) + "\n")
    if len(total.rejected) <= 20:
        print(refusal(parsed.line, code, params), file=sys.stderr)


def refusal(line: int, code: str, params: dict[str, Any]) -> str:
    """A refused record on the terminal. English keeps its terse form (``line 7: exchange.bad_pinfl
    {...}``), which scripts read; another language says why in the words the API's ``title`` uses."""
    shown = json.dumps(params, ensure_ascii=False, default=str)
    with core_locale() as translated:
        if not translated:
            return f"line {line}: {code} {shown}"
        title = title_of(code, "invalid")
    # Translators: a refused record of an agency's file; {title} is the refusal in words, {params}
    # its details as JSON, {code} the refusal code scripts read.
    return tell("line {line}: {title} {params} ({code})", line=line, title=title, params=shown, code=code)


def rejected_entry(parsed: ParsedLine, code: str, params: dict[str, Any]) -> str:
    """A line of FILE.rejected.jsonl: the refusal, the record as read (``record``, null when it
    could not be read) and the record's text as it stands in the file (``text``)."""
    entry = {"line": parsed.line, "code": code, "params": params, "record": parsed.record, "text": parsed.text}
    try:
        line = json.dumps(entry, ensure_ascii=False, allow_nan=False, default=str)
        line.encode("utf-8")
        return line
    except (ValueError, UnicodeEncodeError):
        # NaN, or a lone surrogate (from a ``\udc00`` escape), is no JSON or UTF-8 a reader takes:
        # the text as read says what was sent.
        return json.dumps({**entry, "record": None}, default=str)


def run_generate(args: argparse.Namespace) -> int:
    async def go() -> int:
        with output_file(args.out) as out:  # a folder that is not there is said before the database opens
            core = await build_core(Settings.from_env())
            try:
                count = await generate_records(core, out, seed=args.seed, share=args.share)
            finally:
                await core.engine.dispose()
        print(tell("{count} records written to {file}", count=count, file=args.out))
        return 0

    return asyncio.run(go())
