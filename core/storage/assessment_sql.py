"""The single criterion as set-based SQL, for assessing the whole registry at once.

:func:`core.eligibility.assess` is the rule of record (applications are decided by it, one family
at a time). Assessing two million households one by one through Python would take an hour, so
bulk assessment renders the same rules into SQL: one ``INSERT … SELECT`` per range of household
ids computes every family's figures (members, counted income, income per member, properties,
vehicles, bank balances, able members, children), its category, amount, duration and reasons,
and writes the decisions; enrolments, reinstatements, endings and notices follow as further
set-based statements over the decisions just written. Nothing is loaded into Python.

The figures come from :func:`core.eligibility.rules_in_force` (the rate tables in force on the
day, with ages turned into birth-date cut-offs), so no threshold is written here. Both forms are
pinned together by ``tests/storage/test_assessment_sql.py``, which decides random families both
ways and compares every figure and reason.

Everything interpolated into the statements is a number, a date or a code checked against
``_WORD``; household ranges and timestamps are bound parameters.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.applications import add_months
from core.eligibility import MONTHS_COUNTED, RulesInForce

_WORD = re.compile(r"^[a-z0-9_.-]+$")


def _word(value: str) -> str:
    if not _WORD.match(value):
        raise ValueError(f"not a plain code: {value!r}")
    return f"'{value}'"


@dataclass(frozen=True)
class Dialect:
    """The few places where PostgreSQL and SQLite spell JSON and dates differently."""

    name: str

    @property
    def pg(self) -> bool:
        return self.name == "postgresql"

    def fence(self, body: str) -> str:
        """A CTE's body the planner may not flatten into the statement around it. PostgreSQL keeps
        a subquery with OFFSET whole and streams its rows; MATERIALIZED would also write them all
        to a tuplestore first (spilling to disk past work_mem). SQLite needs a LIMIT before OFFSET."""
        return f"({body} OFFSET 0\n)" if self.pg else f"MATERIALIZED ({body}\n)"

    def date(self, d: dt.date) -> str:
        return f"DATE '{d.isoformat()}'" if self.pg else f"'{d.isoformat()}'"

    def obj(self, *pairs: tuple[str, str]) -> str:
        """A JSON object from (key, SQL expression) pairs, as a JSON value."""
        args = ", ".join(f"{_word(k)}, {v}" for k, v in pairs)
        return f"jsonb_build_object({args})" if self.pg else f"json_object({args})"

    def parse(self, json_text: str) -> str:
        """JSON text as a decision's ``reasons`` or ``inputs`` (``json`` on PostgreSQL: kept as
        written, only checked, which costs a third of decomposing it into ``jsonb``)."""
        return f"CAST({json_text} AS json)" if self.pg else f"json({json_text})"

    def id_list(self, column: str) -> str:
        """The column's values of a group as comma-separated text, for a JSON array."""
        return f"string_agg(CAST({column} AS TEXT), ',')" if self.pg else f"group_concat({column}, ',')"

    def last_day_of_month(self, month: str) -> str:
        if self.pg:
            return f"CAST({month} + INTERVAL '1 month' - INTERVAL '1 day' AS DATE)"
        return f"date({month}, '+1 month', '-1 day')"

    def ending_reasons(self, reasons: str) -> str:
        """A decision's reasons that explain an ending (exclusions and income), with their figures."""
        if self.pg:
            return ("COALESCE((SELECT jsonb_agg(r) FROM jsonb_array_elements(CAST(" + reasons + " AS jsonb)) r"
                    " WHERE r->>'code' LIKE 'exclusion.%' OR r->>'code' LIKE 'income.%'), '[]'::jsonb)")
        return ("json((SELECT json_group_array(json(r.value)) FROM json_each(" + reasons + ") r"
                " WHERE json_extract(r.value, '$.code') LIKE 'exclusion.%'"
                " OR json_extract(r.value, '$.code') LIKE 'income.%'))")


# Due: no decision (an assessment's or an application's) since the household's data last changed.
# The range is stated on the decisions too: without it PostgreSQL hashed the whole decisions table
# for every range (a sequential scan of every decision ever written, twice a range).
DUE = ("NOT EXISTS (SELECT 1 FROM decisions dd WHERE dd.household_id = h.id"
       " AND dd.household_id BETWEEN :lo AND :hi AND dd.created_at >= h.data_changed_at)")


def _due(since: bool) -> str:
    """Due households of the range; with ``since``, only those changed since ``:since`` (as
    :func:`due_ranges` found the range by): the rest of the range's twenty thousand were decided
    after their last change by an earlier pass, and probing each one's decisions to learn so cost
    a pass with 1% due most of its time (a family no pass can decide, with no member, is looked at
    again when its data next changes, or by ``--all``)."""
    return f"h.data_changed_at >= :since AND {DUE}" if since else DUE


def _alive(person: str, on: str) -> str:
    """``person`` lives on the day ``on`` (an SQL date): a member of the family (the civil registry
    reports no death by then; ``core.services.registry.household_facts`` holds to the same)."""
    return f"({person}.died_on IS NULL OR {person}.died_on > {on})"


def due_ranges(*, since: bool) -> str:
    """Which ranges of ``:chunk`` ids from ``:low`` hold a due household, by number, in order.

    With ``since``, only households changed since then are looked at, through
    ``ix_households_data_changed_at``: a pass with nothing changed reads that index and no range.
    Each range's statements then look at the same households (:func:`_due`)."""
    changed = "h.data_changed_at >= :since AND " if since else ""
    return (f"SELECT DISTINCT (h.id - :low) / :chunk AS r FROM households h WHERE {changed}"
            "NOT EXISTS (SELECT 1 FROM decisions dd WHERE dd.household_id = h.id"
            " AND dd.created_at >= h.data_changed_at) ORDER BY r")


NEW_DECISIONS = ("d.id > :before AND d.application_id IS NULL AND d.household_id BETWEEN :lo AND :hi")


# A decision's reasons are JSON written as text by concatenation and parsed once: two
# million decisions built with jsonb_build_object and re-serialised cost more than everything
# else in an assessment. Every value is a number, a date or a plain code, so nothing needs escaping.
def _num(expr: str) -> str:
    """A JSON number from an integer SQL expression; ``null`` when it is NULL."""
    return f"COALESCE(CAST({expr} AS TEXT), 'null')"


def _json_object(*pairs: tuple[str, str]) -> str:
    """A JSON object as a SQL text expression from (key, SQL text expression of the JSON value).

    Constant text (keys, punctuation, constant values) is gathered into one literal between the
    variable parts, so the database concatenates only around those."""
    parts: list[str] = []
    literal = "{"
    for i, (key, value) in enumerate(pairs):
        # A space after the colon: ``:1`` would read as a bind parameter to SQLAlchemy's text().
        literal += ("" if i == 0 else ",") + f'"{_word(key)[1:-1]}": '
        if value.startswith("'") and value.endswith("'") and value.count("'") == 2:
            literal += value[1:-1]  # a constant
        else:
            parts += [f"'{literal}'", value]
            literal = ""
    parts.append(f"'{literal}}}'")
    return " || ".join(parts)


def _const(value: int | str) -> str:
    """A constant JSON value as a SQL literal: numbers bare, codes quoted."""
    return f"'{int(value)}'" if isinstance(value, int) else f"'\"{_word(value)[1:-1]}\"'"


def _reason(code: str, *params: tuple[str, str]) -> str:
    return _json_object(("code", _const(code)), ("params", "(" + _json_object(*params) + ")"))


def _pieces(pieces: Sequence[tuple[str, str]]) -> str:
    """A JSON array text of the reasons whose conditions hold, in order (no concat_ws in SQLite 3.40)."""
    parts = " || ".join(f"COALESCE(CASE WHEN {cond} THEN ',' || {reason} END, '')" for cond, reason in pieces)
    return f"('[' || substr({parts}, 2) || ']')"


def decisions_insert(r: RulesInForce, d: Dialect, *, everything: bool, since: bool = False) -> str:
    """``INSERT INTO decisions … SELECT``: one decision per due household with ids in [:lo, :hi]."""
    on, infant = d.date(r.on), d.date(r.infant_born_after)
    bodies = [(f"body_{i}", body) for i, body in enumerate(r.service_bodies)]

    exclusions: list[tuple[str, str]] = [
        (f"res > {r.max_residential_properties}", _reason(
            "exclusion.second_residence", ("residential_properties", _num("res")),
            ("limit", _const(r.max_residential_properties)))),
    ]
    if not r.non_residential_allowed:
        exclusions.append(("nonres > 0", _reason(
            "exclusion.non_residential_property", ("non_residential_properties", _num("nonres")))))
    exclusions += [
        ("newest IS NOT NULL", _reason(
            "exclusion.new_car", ("year", _num("newest")), ("age", _num(f"{r.on.year} - newest")),
            ("limit_years", _const(r.vehicle_age_limit_years)))),
        (f"rw >= {r.many_vehicles_from}", _reason(
            "exclusion.many_vehicles", ("roadworthy_vehicles", _num("rw")), ("limit", _const(r.many_vehicles_from)))),
        (f"bank >= {r.bank_balance_limit}", _reason(
            "exclusion.bank_balance", ("bank_balance_total", _num("bank")), ("limit", _const(r.bank_balance_limit)),
            ("minimum_wage", _const(r.minimum_wage)), ("multiple", _const(r.bank_balance_multiple)))),
    ]
    exclusions += [(f"{c} > 0", _reason("exclusion.security_service", ("body", _const(b)))) for c, b in bodies]
    excluded = " OR ".join(f"({cond})" for cond, _ in exclusions) or "FALSE"

    mce = r.mce
    income = [("income_per_member", _num("ipm")), ("mce", _const(mce))]
    categories = r.scheme == "categories"
    income_reason = f"CASE WHEN ipm < {mce} THEN {_reason('income.below_threshold', *income)}"
    category = f"CASE WHEN ipm < {mce} THEN "
    category += "(CASE WHEN able > 0 THEN 'poor' ELSE 'state_supported' END)" if categories else "'low_income'"
    share = f"CASE WHEN ipm < {mce} THEN 100"
    if categories:
        for b in r.brackets:
            inside = f"ipm >= {b.low} AND ipm < {b.high}"
            income_reason += f" WHEN {inside} THEN " + _reason(
                "income.near_poverty", *income, ("from_ratio", _const(b.from_ratio)),
                ("below_ratio", _const(b.below_ratio)), ("share_percent", _const(b.share_percent)))
            category += f" WHEN {inside} THEN 'near_poor'"
            share += f" WHEN {inside} THEN {b.share_percent}"
    income_reason += f" ELSE {_reason('income.above_threshold', *income)} END"
    category += " END"
    share += " ELSE 0 END"
    pieces = exclusions + [("TRUE", income_reason)]
    if categories:
        pieces.append((f"ipm < {mce} AND NOT excluded", f"CASE WHEN able > 0 THEN "
                       f"{_reason('category.poor', ('able_members', _num('able')))} ELSE "
                       f"{_reason('category.state_supported', ('able_members', _const(0)))} END"))

    cb = r.child_benefit
    full = (f"CASE WHEN children > 0 THEN (CASE WHEN youngest > {infant} THEN {cb.first_under_3}"
            f" ELSE {cb.first_3_to_18} END) + (CASE WHEN children >= 2 THEN {cb.second} ELSE 0 END)"
            f" + (CASE WHEN children > 2 THEN children - 2 ELSE 0 END) * {cb.third_and_further}"
            f" ELSE {r.material_assistance} END")
    # A category with its own duration wins over the programme's (as in ``assess``).
    duration = "CASE" + "".join(
        f" WHEN category = {_word(k)} THEN {int(v)}" for k, v in sorted(r.durations.items())
        if k not in ("child_benefit", "material_assistance")) + "".join(
        f" WHEN programme = {_word(k)} THEN {int(v)}" for k, v in sorted(r.durations.items())
        if k in ("child_benefit", "material_assistance")) + " ELSE 0 END"

    # The figures go into columns of their own (migration 0008); ``inputs`` stays an empty object.
    # The agency data a decision rested on, by the ids of its exchange records (see
    # core/services/decisions.py for the provenance read back through them).
    fenced = d.fence(f"""
  SELECT base.*, ({excluded}) AS excluded, {category} AS cat0, {share} AS share0,
         CASE WHEN children > 0 THEN 'child_benefit' ELSE 'material_assistance' END AS programme,
         {full} AS full_amount
  FROM base""")
    return f"""
INSERT INTO decisions (household_id, application_id, decided_on, eligible, category, programme, amount,
                       share_percent, duration_months, mce, income_per_member, reasons, inputs, created_at,
                       members, able_members, children, residential_properties, non_residential_properties,
                       roadworthy_vehicles, newest_roadworthy_year, youngest_child_birth_date, income_total,
                       bank_balance_total, amount_total, sources)
{figures_cte(r, d, everything=everything, since=since)}, x AS {fenced}, y AS (
  -- Here, past the joins (x is the fence): in base it became a HAVING in the persons aggregate,
  -- estimated at a fiftieth of the range, and every join after it was planned for a handful of
  -- rows. y and z are folded into the final SELECT: writing them out as well cost 11-14% of the
  -- statement on both engines (200,000 households).
  SELECT x.*, (cat0 IS NOT NULL AND NOT excluded) AS eligible FROM x WHERE unborn = 0
), z AS (
  SELECT y.*, CASE WHEN eligible THEN cat0 END AS category, CASE WHEN eligible THEN share0 ELSE 0 END AS share,
         {_pieces(pieces)} AS reasons_text
  FROM y
)
SELECT hid, NULL, {on}, eligible, category, programme, CASE WHEN eligible THEN full_amount * share / 100 ELSE 0 END,
       share, CASE WHEN eligible THEN {duration} ELSE 0 END, {mce}, ipm, {d.parse("reasons_text")}, {d.parse("'{}'")}, :now,
       n, able, children, res, nonres, rw, newest, youngest, total, bank,
       CASE WHEN eligible THEN full_amount END, src
FROM z
"""


def figures_cte(r: RulesInForce, d: Dialect, *, everything: bool, since: bool = False) -> str:
    """``WITH … base AS (…)``: each due household in [:lo, :hi] with its figures, read from the
    registry's tables (what an assessment reads; ``bench/national.py`` times it alone)."""
    on = d.date(r.on)
    child = d.date(r.child_born_after)
    unable = ", ".join(_word(x) for x in r.unable_disabilities) or "''"
    able = (f"p.birth_date <= {d.date(r.working_born_on_or_before)}"
            f" AND ((p.sex = 'm' AND p.birth_date > {d.date(r.male_working_born_after)})"
            f" OR (p.sex <> 'm' AND p.birth_date > {d.date(r.female_working_born_after)}))"
            f" AND (p.disability IS NULL OR p.disability NOT IN ({unable}))")
    bodies = [(f"body_{i}", body) for i, body in enumerate(r.service_bodies)]
    # COUNT(*) FILTER, not SUM(CASE …): the aggregate skips the rows its filter rejects where
    # SUM adds a zero for each (persons, 90,000 rows a range: 41 -> 35 ms on PostgreSQL).
    body_sums = "".join(f", COUNT(*) FILTER (WHERE p.service_body = {_word(b)}) AS {c}" for c, b in bodies)
    body_cols = "".join(f", m.{c}" for c, _ in bodies)
    # The months counted are consecutive: as a range, they bound the index scan of
    # (household_id, month), where IN filtered every month of the range's households (38 -> 25 ms).
    first, last = min(r.months), max(r.months)
    if sorted(r.months) != [add_months(first, k) for k in range(len(r.months))]:
        raise ValueError(f"income months not consecutive: {r.months}")
    cast = "BIGINT"
    # Every range is read whole for --all: each aggregate over the range's rows, joined by household.
    # Otherwise only the due families' rows (a day's changes are a few in each range of 20,000),
    # their ids first. On PostgreSQL each due family then probes its own rows (LATERAL): the planner
    # estimates the due ids at one row (their stamps lie past its statistics) and, planned as joins
    # of aggregates, re-sorted each aggregate's rows once per due family (200 due in a range of
    # 20,000: 80 ms, against 8 ms probed).
    aggregates = [
        ("m", f"""COUNT(*) AS n,
         COUNT(*) FILTER (WHERE p.birth_date > {on}) AS unborn,
         COUNT(*) FILTER (WHERE {able}) AS able,
         COUNT(*) FILTER (WHERE p.birth_date > {child}) AS children,
         MAX(p.birth_date) FILTER (WHERE p.birth_date > {child}) AS youngest{body_sums}""",
         f"persons p WHERE p.{{scope}} AND {_alive('p', on)}"),
        ("i", f"CAST(SUM(amount) AS {cast}) AS total",
         f"incomes WHERE {{scope}} AND month BETWEEN {d.date(first)} AND {d.date(last)}"),
        ("pr", """SUM(CASE WHEN kind = 'residential' THEN 1 ELSE 0 END) AS res,
         SUM(CASE WHEN kind = 'non_residential' THEN 1 ELSE 0 END) AS nonres""", "properties WHERE {scope}"),
        ("v", f"""SUM(CASE WHEN roadworthy THEN 1 ELSE 0 END) AS rw,
         MAX(CASE WHEN roadworthy AND year >= {r.new_car_from_year} THEN year END) AS newest""",
         "vehicles WHERE {scope}"),
        ("b", f"CAST(SUM(amount) AS {cast}) AS bank", "bank_balances WHERE {scope}"),
        ("f", f"{d.id_list('record_id')} AS src", "facts WHERE {scope} AND record_id IS NOT NULL"),
    ]
    columns = f"""h.id AS hid, m.n, m.unborn, m.able, m.children, m.youngest{body_cols},
         COALESCE(i.total, 0) AS total, COALESCE(pr.res, 0) AS res, COALESCE(pr.nonres, 0) AS nonres,
         COALESCE(v.rw, 0) AS rw, v.newest, COALESCE(b.bank, 0) AS bank, f.src,
         COALESCE(i.total, 0) / (m.n * {MONTHS_COUNTED}) AS ipm"""
    if not everything and d.pg:
        probes = "\n  ".join(
            f"{'JOIN' if alias == 'm' else 'LEFT JOIN'} LATERAL (\n    SELECT {cols}\n    FROM "
            f"{source.format(scope='household_id = h.id')} GROUP BY household_id\n  ) {alias} ON TRUE"
            for alias, cols, source in aggregates)
        return f"""WITH dh AS MATERIALIZED (
  SELECT h.id AS hid FROM households h WHERE h.id BETWEEN :lo AND :hi AND {_due(since)}
), base AS (
  SELECT {columns}
  FROM dh JOIN households h ON h.id = dh.hid
  {probes}
)"""
    scope = "household_id BETWEEN :lo AND :hi"
    if everything:
        head, due = "WITH ", ""
    else:
        head = f"WITH dh AS MATERIALIZED (\n  SELECT h.id AS hid FROM households h WHERE h.id BETWEEN :lo AND :hi AND {_due(since)}\n), "
        scope += " AND household_id IN (SELECT hid FROM dh)"
        due = " AND h.id IN (SELECT hid FROM dh)"
    ctes = ",\n".join(
        f"{alias} AS (\n  SELECT {'p.' if alias == 'm' else ''}household_id AS hid, {cols}\n  FROM {source.format(scope=scope)}"
        f" GROUP BY {'p.' if alias == 'm' else ''}household_id\n)"
        for alias, cols, source in aggregates)
    return f"""{head}{ctes}, base AS (
  SELECT {columns}
  FROM households h JOIN m ON m.hid = h.id
  LEFT JOIN i ON i.hid = h.id LEFT JOIN pr ON pr.hid = h.id LEFT JOIN v ON v.hid = h.id
  LEFT JOIN b ON b.hid = h.id LEFT JOIN f ON f.hid = h.id
  WHERE h.id BETWEEN :lo AND :hi{due}
)"""


def due_in_range(*, everything: bool, since: bool = False) -> str:
    """How many households in [:lo, :hi] are due; those without a decision after the pass were refused
    by the rules (no members, or a member born after the day)."""
    due = f" AND {_due(since)}" if not everything else ""
    return f"SELECT COUNT(*) FROM households h WHERE h.id BETWEEN :lo AND :hi{due}"


def new_enrolments(r: RulesInForce, d: Dialect, first_month: dt.date) -> str:
    """Eligible families with no active enrolment covering ``first_month`` start one from it: next
    month, or the first after it whose payroll is not approved yet."""
    last = "CASE d.duration_months" + "".join(
        f" WHEN {n} THEN {d.date(add_months(first_month, n - 1))}" for n in sorted({int(v) for v in r.durations.values()})
    ) + " END"
    return f"""
INSERT INTO enrolments (household_id, programme, category, decision_id, first_month, last_month, amount, state,
                        children, infant, share_percent)
SELECT d.household_id, d.programme, d.category, d.id, {d.date(first_month)}, {last}, d.amount, 'active',
       d.children, COALESCE(d.youngest_child_birth_date > {d.date(r.infant_born_after)}, FALSE), d.share_percent
FROM decisions d
WHERE {NEW_DECISIONS} AND d.eligible AND NOT EXISTS (
  SELECT 1 FROM enrolments e WHERE e.household_id = d.household_id AND e.state = 'active'
  AND e.last_month >= {d.date(first_month)})
"""


def _reinstated(r: RulesInForce, d: Dialect, enrolments: str) -> str:
    """The enrolments (as ``enrolments``) due to end whose family this pass found eligible again.

    Driven by the few enrolments due to end (``ix_enrolments_ending``), each probing its own new
    decision, not by the range's twenty thousand new decisions probing enrolments."""
    next_month = add_months(r.on.replace(day=1), 1)
    return (f"{enrolments}.state = 'active' AND {enrolments}.ended_on IS NOT NULL"
            f" AND {enrolments}.last_month >= {d.date(next_month)}"
            f" AND {enrolments}.household_id BETWEEN :lo AND :hi"
            f" AND EXISTS (SELECT 1 FROM decisions d WHERE d.household_id = {enrolments}.household_id"
            f" AND {NEW_DECISIONS} AND d.eligible)")


def reinstate(r: RulesInForce, d: Dialect) -> str:
    """An eligible family whose enrolment was due to end keeps it."""
    return f"UPDATE enrolments SET ended_on = NULL WHERE {_reinstated(r, d, 'enrolments')}"


# The state of the family's latest ending notice: 'pending' is not yet sent; any other, told.
_LAST_ENDING_STATE = ("(SELECT o.state FROM outbox o WHERE o.household_id = e.household_id"
                      " AND o.template = 'enrolment.ending' ORDER BY o.id DESC LIMIT 1)")


def continuing_notices(r: RulesInForce, d: Dialect, priority: int) -> str:
    """Tell a family being reinstated that its assistance goes on, when it was already told it
    would end (run before :func:`withdraw_ending_notices` and :func:`reinstate`)."""
    params = d.obj(("last_month", "e.last_month"))
    return f"""
{OUTBOX_INSERT}
SELECT {route_columns("e.household_id", priority)}, 'enrolment.continues', {params}, 'pending', 0, :now,
       'enrolment.continues:' || e.id || ':' || (SELECT MAX(d.id) FROM decisions d
                                                  WHERE d.household_id = e.household_id AND {NEW_DECISIONS})
FROM enrolments e {contact_join("e.household_id")}
WHERE {_reinstated(r, d, "e")} AND {REACHABLE} AND {_LAST_ENDING_STATE} NOT IN ('pending', 'withdrawn')
ON CONFLICT (dedupe_key) DO NOTHING
"""


def withdraw_ending_notices(r: RulesInForce, d: Dialect) -> str:
    """An ending notice not yet sent to a family being reinstated is not sent at all."""
    return f"""
UPDATE outbox SET state = 'withdrawn'
WHERE template = 'enrolment.ending' AND state = 'pending'
AND household_id IN (SELECT e.household_id FROM enrolments e WHERE {_reinstated(r, d, "e")})
"""


def _ending_enrolments(r: RulesInForce, d: Dialect) -> str:
    return (f"e.state = 'active' AND e.ended_on IS NULL AND e.last_month >= {d.date(r.on.replace(day=1))}"
            " AND e.household_id BETWEEN :lo AND :hi")


def end_enrolments(r: RulesInForce, d: Dialect) -> str:
    """A family no longer eligible is paid to the end of its period, never cut mid-period."""
    return f"""
UPDATE enrolments SET ended_on = {d.last_day_of_month("last_month")}
WHERE state = 'active' AND ended_on IS NULL AND last_month >= {d.date(r.on.replace(day=1))}
AND household_id BETWEEN :lo AND :hi
AND household_id IN (SELECT d.household_id FROM decisions d WHERE {NEW_DECISIONS} AND NOT d.eligible)
"""


def end_unpeopled(r: RulesInForce, d: Dialect) -> str:
    """A family no living member is left of (the civil registry reported each death, or moved each
    member to another family) is paid for this month and no more (an enrolment not begun yet ends
    now): no one is left to be paid, or told."""
    month = d.date(r.on.replace(day=1))
    return f"""
UPDATE enrolments SET
  last_month = CASE WHEN first_month <= {month} THEN {month} ELSE last_month END,
  ended_on = CASE WHEN first_month <= {month} THEN {d.last_day_of_month(month)} ELSE {d.date(r.on)} END,
  state = CASE WHEN first_month <= {month} THEN state ELSE 'ended' END
WHERE state = 'active' AND last_month >= {month} AND household_id BETWEEN :lo AND :hi
AND NOT EXISTS (SELECT 1 FROM persons p WHERE p.household_id = enrolments.household_id
                AND {_alive("p", d.date(r.on))})
"""


# Queueing notices set-based: the same route as ``outbox.route_for_household`` (Telegram where
# linked and not blocked, SMS otherwise, nothing after STOP), for the household in ``household``.
OUTBOX_INSERT = ("INSERT INTO outbox (created_at, household_id, phone, telegram_chat_id, channel, priority,"
                 " language, template, params, state, attempts, next_attempt_at, dedupe_key)")
_TELEGRAM = "(c.telegram_chat_id IS NOT NULL AND NOT c.telegram_blocked)"
REACHABLE = f"({_TELEGRAM} OR NOT COALESCE(pp.sms_stopped, FALSE))"


def route_columns(household: str, priority: int) -> str:
    """The outbox columns from created_at to language, for the family in ``household``."""
    return (f":now, {household}, c.phone, CASE WHEN {_TELEGRAM} THEN c.telegram_chat_id END,"
            f" CASE WHEN {_TELEGRAM} THEN 'telegram' ELSE 'sms' END, {int(priority)}, c.language")


def contact_join(household: str) -> str:
    return (f"JOIN contacts c ON c.household_id = {household}"
            " LEFT JOIN phone_preferences pp ON pp.phone = c.phone")


def ending_notices(r: RulesInForce, d: Dialect, priority: int) -> str:
    """Tell each family whose enrolment is about to be ended (run before :func:`end_enrolments`);
    keyed by the deciding decision too, so a family reinstated and ending again is told again."""
    params = d.obj(("last_month", "e.last_month"), ("reasons", d.ending_reasons("d.reasons")))
    return f"""
{OUTBOX_INSERT}
SELECT {route_columns("e.household_id", priority)}, 'enrolment.ending', {params}, 'pending', 0, :now,
       'enrolment.ending:' || e.id || ':' || d.id
FROM enrolments e JOIN decisions d ON d.household_id = e.household_id AND {NEW_DECISIONS} AND NOT d.eligible
{contact_join("e.household_id")}
WHERE {_ending_enrolments(r, d)} AND {REACHABLE}
ON CONFLICT (dedupe_key) DO NOTHING
"""


def started_notices(d: Dialect, priority: int) -> str:
    """Tell each family enrolled by this pass (enrolments with ids above :enrolled_before)."""
    params = d.obj(("programme", "e.programme"), ("amount", "e.amount"), ("first_month", "e.first_month"),
                   ("last_month", "e.last_month"), ("months", "d.duration_months"))
    return f"""
{OUTBOX_INSERT}
SELECT {route_columns("e.household_id", priority)}, 'enrolment.started', {params}, 'pending', 0, :now, 'enrolment.started:' || e.id
FROM enrolments e JOIN decisions d ON d.id = e.decision_id
{contact_join("e.household_id")}
WHERE e.id > :enrolled_before AND e.household_id BETWEEN :lo AND :hi AND {REACHABLE}
ON CONFLICT (dedupe_key) DO NOTHING
"""
