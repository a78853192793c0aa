"""``spsr exchange import FILE`` (JSON lines or CSV) and ``spsr exchange generate --out FILE``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.config import Settings
from core.errors import InvalidInput
from core.exchange import MAX_BATCH, ParsedLine, parse_csv, parse_jsonl
from core.services.exchange import IngestResult, expire_facts, generate_records, ingest
from core.storage.uow import Actor
from spsr.arguments import whole_number
from spsr.bootstrap import build_core
from spsr.commands.assess import Progress


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("exchange", help="import agency records; generate records for a seeded registry")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = actions.add_parser("import", help="load a batch file (JSON lines, or CSV with a header)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--batch", type=whole_number(1, MAX_BATCH), default=MAX_BATCH,
                     help=f"records per transaction (at most {MAX_BATCH:,})")
    imp.add_argument("--quiet", action="store_true")
    imp.set_defaults(func=run_import)
    gen = actions.add_parser("generate", help="write JSON lines of agency records for the registry's persons")
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--seed", type=int, default=1140)
    gen.add_argument("--share", type=float, default=1.0, help="fraction of households to cover")
    gen.set_defaults(func=run_generate)
    exp = actions.add_parser("expire", help="retire agency values past their validity (also run by spsr assess)")
    exp.set_defaults(func=run_expire)


def run_expire(args: argparse.Namespace) -> int:
    async def go() -> int:
        core = await build_core(Settings.from_env())
        try:
            lapsed = await expire_facts(core)
        finally:
            await core.engine.dispose()
        print(f"{core.clock.today()}: {lapsed} values past their validity retired")
        return 0

    return asyncio.run(go())


def read_batches(path: Path, size: int) -> Iterator[list[ParsedLine]]:
    """Stream a JSON-lines file in batches (CSV is read whole); line numbers are the file's."""
    if path.suffix.lower() == ".csv":
        lines = parse_csv(path.read_text("utf-8"))
        for i in range(0, len(lines), size):
            yield lines[i:i + size]
        return
    batch: list[ParsedLine] = []
    with path.open("r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                # A last line without its newline that does not parse is a truncated file.
                [parsed] = parse_jsonl(line)
                error = None if parsed.error is None else InvalidInput(
                    "exchange.truncated_line" if not line.endswith("\n") else "exchange.malformed_line",
                    line=number)
                batch.append(ParsedLine(number, parsed.record, error))
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def run_import(args: argparse.Namespace) -> int:
    size = args.batch
    rejected_path = args.file.with_name(args.file.name + ".rejected.jsonl")

    async def go() -> int:
        core = await build_core(Settings.from_env())
        total = IngestResult()
        progress = None if args.quiet else Progress(0, "records")
        try:
            with rejected_path.open("w", encoding="utf-8") as rejected:
                for batch in read_batches(args.file, size):
                    good = [p for p in batch if p.error is None]
                    for p in batch:
                        if p.error is not None:
                            _reject(rejected, total, p.line, p.error.code, p.error.params, None)
                    result = await ingest(core, [p.record for p in good], Actor("agency", "spsr exchange", "cli"))
                    total.accepted += result.accepted
                    total.superseded += result.superseded
                    total.unchanged += result.unchanged
                    total.stale += result.stale
                    for index, code, params in result.rejected:
                        _reject(rejected, total, good[index].line, code, params, good[index].record)
                    if progress is not None:
                        progress.total += len(batch)
                        progress(len(batch))
        finally:
            if progress is not None:
                progress.close()
            await core.engine.dispose()
        print(f"accepted {total.accepted}, superseded {total.superseded}, stale {total.stale}, "
              f"unchanged {total.unchanged}, rejected {len(total.rejected)}"
              + (f" (see {rejected_path})" if total.rejected else ""))
        if not total.rejected:
            rejected_path.unlink(missing_ok=True)
        return 1 if total.rejected else 0

    return asyncio.run(go())


def _reject(out: Any, total: IngestResult, line: int, code: str, params: dict[str, Any], record: Any) -> None:
    total.rejected.append((line, code, params))
    entry = {"line": line, "code": code, "params": params, "record": record}
    out.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
    if len(total.rejected) <= 20:
        print(f"line {line}: {code} {json.dumps(params, ensure_ascii=False, default=str)}", file=sys.stderr)


def run_generate(args: argparse.Namespace) -> int:
    async def go() -> int:
        core = await build_core(Settings.from_env())
        try:
            with args.out.open("w", encoding="utf-8") as out:
                count = await generate_records(core, out, seed=args.seed, share=args.share)
        finally:
            await core.engine.dispose()
        print(f"{count} records written to {args.out}")
        return 0

    return asyncio.run(go())
