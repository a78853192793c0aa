"""Rows read and written by the thousand inside a unit of work, in as few round trips as each
database allows.

PostgreSQL: one statement per call, the rows sent as one array per column and unnested
(``= ANY(:array)`` to read, ``INSERT … SELECT FROM unnest``, ``UPDATE/DELETE … FROM unnest``):
no per-row statement, no ``IN`` list to compile. SQLite: ``executemany`` of one prepared
statement (it has no arrays, and its statements cost no round trip), reads in ``IN`` chunks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Select,
    String,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from core.storage.in_lists import IN_LIST, in_chunks

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def is_postgres(s: AsyncSession) -> bool:
    return s.get_bind().dialect.name == "postgresql"


def _pg_type(column: Column[Any]) -> str:
    """The element type of an array that carries ``column``'s values (JSON travels as text)."""
    kind = column.type.dialect_impl(_PG)
    # Text unbounded: a cast to VARCHAR(n) would cut a long value short where the column refuses it.
    return "TEXT" if isinstance(kind, JSON | String) else kind.compile(dialect=_PG)


def _is_json(column: Column[Any]) -> bool:
    return isinstance(column.type.dialect_impl(_PG), JSON)


def _unnest(table: Table, names: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> tuple[str, dict[str, Any]]:
    """``unnest(CAST(:u0 AS T0[]), …) AS u(c0, …)`` and its arrays, one per column."""
    arrays: dict[str, Any] = {}
    for i, n in enumerate(names):
        values = [r[n] for r in rows]
        arrays[f"u{i}"] = [None if v is None else json.dumps(v) for v in values] if _is_json(table.c[n]) else values
    casts = ", ".join(f"CAST(:u{i} AS {_pg_type(table.c[n])}[])" for i, n in enumerate(names))
    return f"unnest({casts}) AS u({', '.join(names)})", arrays


def _value(table: Table, name: str) -> str:
    return f"CAST(u.{name} AS JSONB)" if _is_json(table.c[name]) else f"u.{name}"


async def rows_where_in(s: AsyncSession, stmt: Select[*tuple[Any, ...]], column: QueryableAttribute[Any] | Column[Any],
                        values: Sequence[Any]) -> list[Any]:
    """``stmt`` for the rows whose ``column`` is one of ``values``."""
    if not values:
        return []
    conn = await s.connection()  # Core rows: the ORM's row loading costs more than the statement
    if is_postgres(s):
        array = bindparam("values", list(values), type_=postgresql.ARRAY(column.type))
        return list((await conn.execute(stmt.where(column == any_(array)))).all())
    out: list[Any] = []
    for chunk in in_chunks(values):
        out.extend((await conn.execute(stmt.where(column.in_(chunk)))).all())
    return out


async def insert_rows(s: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], *,
                      conflict: Sequence[str] = (), returning: Sequence[str] = ()) -> list[Any]:
    """Insert ``rows`` (dicts with the same keys); with ``conflict``, a row whose key is held
    replaces the held row's other columns. With ``returning``, those columns of each row written."""
    if not rows:
        return []
    names = list(rows[0])
    conn = await s.connection()
    if is_postgres(s):
        source, params = _unnest(table, names, rows)
        sql = (f"INSERT INTO {table.name} ({', '.join(names)}) "
               f"SELECT {', '.join(_value(table, n) for n in names)} FROM {source}")
        if conflict:
            sets = ", ".join(f"{n} = EXCLUDED.{n}" for n in names if n not in conflict)
            sql += f" ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {sets}"
        if returning:
            sql += f" RETURNING {', '.join(returning)}"
        result = await conn.execute(text(sql), params)
        return list(result.all()) if returning else []
    stmt = sqlite.insert(table)
    if conflict:
        stmt = stmt.on_conflict_do_update(index_elements=list(conflict),
                                          set_={n: stmt.excluded[n] for n in names if n not in conflict})
    if returning:
        result = await conn.execute(stmt.returning(*(table.c[n] for n in returning)), list(rows))
        return list(result.all())
    await conn.execute(stmt, list(rows))
    return []


async def delete_rows(s: AsyncSession, table: Table, keys: Sequence[Mapping[str, Any]]) -> None:
    """Delete the rows matching each of ``keys`` (dicts of column → value, the same columns each)."""
    if not keys:
        return
    names = list(keys[0])
    conn = await s.connection()
    if is_postgres(s):
        source, params = _unnest(table, names, keys)
        match = " AND ".join(f"{table.name}.{n} = u.{n}" for n in names)
        await conn.execute(text(f"DELETE FROM {table.name} USING {source} WHERE {match}"), params)
        return
    await conn.execute(delete(table).where(and_(*(table.c[n] == bindparam(f"k_{n}") for n in names))),
                    [{f"k_{n}": k[n] for n in names} for k in keys])


async def update_rows(s: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], match: Sequence[str],
                      fixed: Mapping[str, Any] | None = None) -> None:
    """For each row, set its columns other than ``match`` on the rows whose ``match`` columns equal
    its own; ``fixed`` sets the same values on all of them."""
    if not rows:
        return
    names = list(rows[0])
    conn = await s.connection()
    sets = [n for n in names if n not in match]
    fixed = dict(fixed or {})
    if is_postgres(s):
        source, params = _unnest(table, names, rows)
        if not sets and len(match) == 1:  # the same values on a list of keys: probed by the index
            source, where = "", f"{table.name}.{match[0]} = ANY(CAST(:u0 AS {_pg_type(table.c[match[0]])}[]))"
        else:
            source = f" FROM {source}"
            where = " AND ".join(f"{table.name}.{n} = u.{n}" for n in match)
        assigns = [f"{n} = {_value(table, n)}" for n in sets]
        for i, (n, v) in enumerate(fixed.items()):
            assigns.append(f"{n} = CAST(:f{i} AS {_pg_type(table.c[n])})")
            params[f"f{i}"] = json.dumps(v) if _is_json(table.c[n]) and v is not None else v
        await conn.execute(text(f"UPDATE {table.name} SET {', '.join(assigns)}{source} WHERE {where}"), params)
        return
    stmt = (update(table).where(and_(*(table.c[n] == bindparam(f"k_{n}") for n in match)))
            .values({**{n: bindparam(f"v_{n}") for n in sets}, **fixed}))
    await conn.execute(stmt, [{**{f"k_{n}": r[n] for n in match}, **{f"v_{n}": r[n] for n in sets}} for r in rows])


async def rows_matching(s: AsyncSession, table: Table, columns: Sequence[str],
                        keys: Sequence[Mapping[str, Any]]) -> list[Any]:
    """``columns`` of the rows matching any of ``keys`` (dicts of column → value, the same columns each)."""
    if not keys:
        return []
    names = list(keys[0])
    conn = await s.connection()
    if is_postgres(s):
        source, params = _unnest(table, names, keys)
        match = " AND ".join(f"{table.name}.{n} = u.{n}" for n in names)
        # An index probe per key: as a join the planner hashed the whole table (a scan of every
        # record ever received, 170 ms at 400,000 and growing) where 10,000 probes take 35 ms.
        # OFFSET 0 keeps it from flattening the LATERAL subquery back into that join.
        sql = (f"SELECT {', '.join(f't.{c}' for c in columns)} FROM {source} CROSS JOIN LATERAL"
               f" (SELECT * FROM {table.name} WHERE {match} OFFSET 0) AS t")
        return list((await conn.execute(text(sql).columns(*(table.c[c] for c in columns)), params)).all())
    # SQLite searches a list of row values without its index: the first column equal, the rest IN.
    by_first: dict[Any, list[Mapping[str, Any]]] = {}
    for k in keys:
        by_first.setdefault(k[names[0]], []).append(k)
    out: list[Any] = []
    for first, group in by_first.items():
        for chunk in in_chunks(group, max(1, IN_LIST // max(1, len(names) - 1))):
            stmt = select(*(table.c[c] for c in columns)).where(table.c[names[0]] == first)
            if len(names) > 1:
                stmt = stmt.where(tuple_(*(table.c[n] for n in names[1:])).in_(
                    [tuple(k[n] for n in names[1:]) for k in chunk]) if len(names) > 2
                    else table.c[names[1]].in_([k[names[1]] for k in chunk]))
            out.extend((await conn.execute(stmt)).all())
    return out


async def rows_by_prefix(s: AsyncSession, table: Table, columns: Sequence[str], key: str, text_column: str,
                         wanted: Sequence[tuple[Any, str]]) -> list[Any]:
    """``columns`` of the rows whose ``key`` equals and whose ``text_column`` starts with one of
    ``wanted``'s pairs (a row matching two may come twice). The key should lead an index."""
    if not wanted:
        return []
    conn = await s.connection()
    cols = ", ".join(f"t.{c}" for c in columns)
    typed = [table.c[c] for c in columns]
    if is_postgres(s):
        # starts_with, not LIKE: keys hold '_' and '%', and no collation reorders a prefix.
        sql = (f"SELECT {cols} FROM unnest(CAST(:k AS {_pg_type(table.c[key])}[]), CAST(:p AS TEXT[])) AS u(k, p)"
               f" CROSS JOIN LATERAL (SELECT * FROM {table.name} WHERE {table.name}.{key} = u.k"
               f" AND starts_with({table.name}.{text_column}, u.p) OFFSET 0) AS t")  # see rows_matching
        params = {"k": [k for k, _ in wanted], "p": [p for _, p in wanted]}
        return list((await conn.execute(text(sql).columns(*typed), params)).all())
    # SQLite: every row of the keys (by the index), those under a prefix kept.
    prefixes: dict[Any, list[str]] = {}
    for k, p in wanted:
        prefixes.setdefault(k, []).append(p)
    out: list[Any] = []
    position = columns.index(text_column)
    for chunk in in_chunks(sorted(prefixes), IN_LIST):
        stmt = select(*typed).where(table.c[key].in_(chunk))
        for row in (await conn.execute(stmt)).all():
            if any(row[position].startswith(p) for p in prefixes[row[columns.index(key)]]):
                out.append(row)
    return out
