"""The registry's tables, one declarative model each.

Designed for one node holding 2 million households and 9 million persons: integer keys, the
indexes the channels look up by (PINFL, phone, grievance number, Telegram chat, territory), and
denormalised household keys on child rows so bulk passes (assessment, payroll) are single
set-based statements. Alembic migrations under ``migrations/`` build exactly this schema on
SQLite and PostgreSQL; ``tests/storage/test_migrations.py`` checks they agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.payments import FIRST_LINE_ID

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")
Stamp = DateTime(timezone=True)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: Json, list[Any]: Json}


# --- territory -------------------------------------------------------------------------------


class Region(Base):
    __tablename__ = "regions"
    soato: Mapped[str] = mapped_column(String(4), primary_key=True)
    iso: Mapped[str] = mapped_column(String(6), unique=True)
    name_uz: Mapped[str] = mapped_column(String(120))
    name_ru: Mapped[str] = mapped_column(String(120))
    name_kaa: Mapped[str | None] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))


class District(Base):
    """A district-level unit: a tuman or a city of regional subordination."""

    __tablename__ = "districts"
    soato: Mapped[str] = mapped_column(String(10), primary_key=True)
    region_soato: Mapped[str] = mapped_column(ForeignKey("regions.soato"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # district | city
    name_uz: Mapped[str] = mapped_column(String(120))
    name_ru: Mapped[str] = mapped_column(String(120))
    name_kaa: Mapped[str | None] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    uncertain: Mapped[bool] = mapped_column(Boolean, default=False)


class Mahalla(Base):
    __tablename__ = "mahallas"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    district_soato: Mapped[str] = mapped_column(ForeignKey("districts.soato"), index=True)
    name_uz: Mapped[str] = mapped_column(String(120))
    name_ru: Mapped[str | None] = mapped_column(String(120))
    name_kaa: Mapped[str | None] = mapped_column(String(120))


# --- registry --------------------------------------------------------------------------------


class Household(Base):
    __tablename__ = "households"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    region_soato: Mapped[str] = mapped_column(ForeignKey("regions.soato"))
    district_soato: Mapped[str] = mapped_column(ForeignKey("districts.soato"))
    mahalla_id: Mapped[int] = mapped_column(ForeignKey("mahallas.id"), index=True)
    address: Mapped[str] = mapped_column(String(300))
    # No FK: a household and its head are written together; the head is a member.
    head_person_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
    # Assessment re-reads households whose data changed after their latest decision (a household
    # needs no "assessed at" of its own, so a national assessment never rewrites this wide table).
    data_changed_at: Mapped[dt.datetime] = mapped_column(Stamp)

    __table_args__ = (
        Index("ix_households_territory", "region_soato", "district_soato"),
        Index("ix_households_data_changed_at", "data_changed_at"),
    )


class Person(Base):
    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pinfl: Mapped[str] = mapped_column(String(14), unique=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    # head, spouse, child, grandchild, parent, sibling, other
    relation: Mapped[str] = mapped_column(String(16))
    surname: Mapped[str] = mapped_column(String(80))
    given_name: Mapped[str] = mapped_column(String(80))
    patronymic: Mapped[str | None] = mapped_column(String(80))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))  # m | f
    disability: Mapped[str | None] = mapped_column(String(10))  # group1 | group2 | group3 | child
    # defence | interior | emergency | state_security | national_guard | customs
    service_body: Mapped[str | None] = mapped_column(String(20))
    passport: Mapped[str | None] = mapped_column(String(9))
    # From the civil registry (fhdyo.death): from that day the person is no member of the family
    # (migration 0012). Kept, not deleted: decisions and payments made before still name them.
    died_on: Mapped[dt.date | None] = mapped_column(Date)

    __table_args__ = (
        # A household's members, with every column an assessment counts them by: a range of
        # households is read from the index alone, never from the table (migrations 0009, 0012).
        Index("ix_persons_household_figures", "household_id", "birth_date", "sex", "disability", "service_body",
              "died_on"),
    )


class Income(Base):
    """One month's income of one person from one source."""

    __tablename__ = "incomes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    month: Mapped[dt.date] = mapped_column(Date)  # first day of the month
    # wage, pension, self_employment, agriculture, benefit, other
    source: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    agency: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        UniqueConstraint("person_id", "month", "source", name="uq_incomes_person_month_source"),
        # With the amount: an assessment sums a range of households' months from the index alone
        # (migration 0009), where it read every month of them from the table and kept three.
        Index("ix_incomes_household_month_amount", "household_id", "month", "amount"),
    )


class Vehicle(Base):
    __tablename__ = "vehicles"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    # A person's rows are replaced when an agency's value comes in or lapses (migration 0014).
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="car")  # car | truck | motorcycle | tractor
    year: Mapped[int] = mapped_column(Integer)
    roadworthy: Mapped[bool] = mapped_column(Boolean)
    plate: Mapped[str | None] = mapped_column(String(12))


class Property(Base):
    __tablename__ = "properties"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # residential | non_residential
    cadastre_number: Mapped[str | None] = mapped_column(String(40))


class BankBalance(Base):
    __tablename__ = "bank_balances"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    as_of: Mapped[dt.date] = mapped_column(Date)


class NotebookMembership(Base):
    """Membership of the Iron, Women's or Youth notebook programmes."""

    __tablename__ = "notebook_memberships"
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), primary_key=True)
    book: Mapped[str] = mapped_column(String(8), primary_key=True)  # iron | women | youth
    since: Mapped[dt.date] = mapped_column(Date)
    until: Mapped[dt.date | None] = mapped_column(Date)


class Contact(Base):
    """How to reach a household: its registered phone, language and channel."""

    __tablename__ = "contacts"
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), primary_key=True)
    phone: Mapped[str] = mapped_column(String(16), index=True)  # E.164
    language: Mapped[str] = mapped_column(String(3))  # uz | kaa | ru
    channel: Mapped[str] = mapped_column(String(10))  # sms | telegram | ussd
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    telegram_blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(Stamp)


class PhonePreference(Base):
    """What a phone chose, registered or not: its language, and STOP for SMS."""

    __tablename__ = "phone_preferences"
    phone: Mapped[str] = mapped_column(String(16), primary_key=True)
    language: Mapped[str | None] = mapped_column(String(3))
    sms_stopped: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(Stamp)


# --- applications, decisions, enrolments ------------------------------------------------------


class Application(Base):
    __tablename__ = "applications"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(12), unique=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    programme: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(10))
    language: Mapped[str] = mapped_column(String(3))
    state: Mapped[str] = mapped_column(String(12))
    submitted_at: Mapped[dt.datetime] = mapped_column(Stamp)
    application_month: Mapped[dt.date] = mapped_column(Date)
    decision_month: Mapped[dt.date] = mapped_column(Date)
    declared_changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # A repeated USSD hop or a double tap carries the same key and is recorded once.
    idempotency_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    verified_at: Mapped[dt.datetime | None] = mapped_column(Stamp)
    decided_at: Mapped[dt.datetime | None] = mapped_column(Stamp)
    decision_id: Mapped[int | None] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        UniqueConstraint("household_id", "application_month", name="uq_applications_household_month"),
        Index("ix_applications_state_decision_month", "state", "decision_month"),
    )


class Decision(Base):
    """An eligibility decision with every input figure and every reason."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No checked foreign keys, as for payroll lines: bulk assessment writes a decision per
    # household in one INSERT … SELECT over the households themselves, and households and
    # applications are never deleted; a checked key cost a trigger call per decision.
    household_id: Mapped[int] = mapped_column(BigId)
    application_id: Mapped[int | None] = mapped_column(BigId)
    decided_on: Mapped[dt.date] = mapped_column(Date)
    eligible: Mapped[bool] = mapped_column(Boolean)
    category: Mapped[str | None] = mapped_column(String(20))
    programme: Mapped[str] = mapped_column(String(24))
    amount: Mapped[int] = mapped_column(BigInteger)
    share_percent: Mapped[int] = mapped_column(Integer)
    duration_months: Mapped[int] = mapped_column(Integer)
    mce: Mapped[int] = mapped_column(BigInteger)
    income_per_member: Mapped[int] = mapped_column(BigInteger)
    # ``json``, not ``jsonb``, on PostgreSQL: written once, read whole, never searched; bulk
    # assessment writes two million of them, and checking JSON text costs a third of decomposing it.
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # An application's decision keeps its whole ``core.eligibility.Decision`` here; a bulk one
    # keeps ``{}`` and its figures in the columns below (core/services/decisions.py reads both).
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
    # A bulk assessment's figures, as columns: two million decisions a pass, and the same figures
    # as JSON text were half of every row and of the write-ahead log (migration 0008).
    members: Mapped[int | None] = mapped_column(SmallInteger)
    able_members: Mapped[int | None] = mapped_column(SmallInteger)
    children: Mapped[int | None] = mapped_column(SmallInteger)
    residential_properties: Mapped[int | None] = mapped_column(SmallInteger)
    non_residential_properties: Mapped[int | None] = mapped_column(SmallInteger)
    roadworthy_vehicles: Mapped[int | None] = mapped_column(SmallInteger)
    newest_roadworthy_year: Mapped[int | None] = mapped_column(SmallInteger)
    youngest_child_birth_date: Mapped[dt.date | None] = mapped_column(Date)
    income_total: Mapped[int | None] = mapped_column(BigInteger)
    bank_balance_total: Mapped[int | None] = mapped_column(BigInteger)
    amount_total: Mapped[int | None] = mapped_column(BigInteger)
    # The ``exchange_records`` ids the figures rest on, comma-separated (provenance is read back
    # through them: records are kept for good).
    sources: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # A household's decisions in order: its latest, and those one assessment pass just wrote
        # (``household_id BETWEEN … AND id > …``) by a range scan of this index alone.
        Index("ix_decisions_household_id", "household_id", "id"),
        # Most decisions are an assessment's, with no application: left out of the index, so the
        # planner can never walk millions of NULLs looking for a range's new decisions.
        Index("ix_decisions_application_id", "application_id",
              postgresql_where=text("application_id IS NOT NULL"), sqlite_where=text("application_id IS NOT NULL")),
    )


class AssessmentRun(Base):
    """One pass of ``spsr assess`` (or the server's periodic one): when it began, when it finished.

    A household whose data last changed before the latest finished pass began was decided by it
    (or could not be decided on that data), so the next pass looks only at households changed
    since then, through ``ix_households_data_changed_at``, not at every household of the registry."""

    __tablename__ = "assessment_runs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(Stamp)
    finished_at: Mapped[dt.datetime | None] = mapped_column(Stamp)  # NULL: running, or stopped half-way
    everything: Mapped[bool] = mapped_column(Boolean)
    assessed: Mapped[int] = mapped_column(Integer, default=0)
    eligible: Mapped[int] = mapped_column(Integer, default=0)
    enrolled: Mapped[int] = mapped_column(Integer, default=0)
    ending: Mapped[int] = mapped_column(Integer, default=0)
    reinstated: Mapped[int] = mapped_column(Integer, default=0)
    notices: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)


class ExpiryRun(Base):
    """A finished retirement of lapsed agency values (``spsr exchange expire``), on a day, under
    the catalogue's validities then (a digest): values lapse only as days pass (one lapsed on
    arrival is never stored as a fact), so later runs that day, under the same validities, find
    nothing and skip the walk over every fact (migration 0015)."""

    __tablename__ = "expiry_runs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date)
    validities: Mapped[str] = mapped_column(String(64))
    finished_at: Mapped[dt.datetime] = mapped_column(Stamp)
    retired: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_expiry_runs_day", "day", "validities"),)


class Enrolment(Base):
    __tablename__ = "enrolments"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No checked foreign keys, as for decisions: a full assessment enrols hundreds of thousands of
    # families set-based, and on PostgreSQL each checked key locked its parent row (a page write)
    # per enrolment (migration 0009). Households and decisions are never deleted.
    household_id: Mapped[int] = mapped_column(BigId)
    programme: Mapped[str] = mapped_column(String(24))
    category: Mapped[str | None] = mapped_column(String(20))
    decision_id: Mapped[int | None] = mapped_column(BigId)
    first_month: Mapped[dt.date] = mapped_column(Date)
    last_month: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)  # as decided, at the rates of the decision
    state: Mapped[str] = mapped_column(String(10))  # active | ended
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    # What the amount is made of, so that each month's payroll prices it at the rates in force
    # that month (an indexation reaches every running enrolment): counted children, whether
    # the youngest is under 3, and the category's share. NULL: paid at ``amount``.
    children: Mapped[int | None] = mapped_column(Integer)
    infant: Mapped[bool | None] = mapped_column(Boolean)
    share_percent: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_enrolments_household_state", "household_id", "state"),
        Index("ix_enrolments_period", "state", "first_month", "last_month"),
        # The few enrolments due to end: an assessment reinstates those of families eligible again.
        Index("ix_enrolments_ending", "household_id", postgresql_where=text("state = 'active' AND ended_on IS NOT NULL"),
              sqlite_where=text("state = 'active' AND ended_on IS NOT NULL")),
    )


# --- payments --------------------------------------------------------------------------------


class PaymentCycle(Base):
    """A month's payroll, frozen when opened; never recomputed from the live registry."""

    __tablename__ = "payment_cycles"
    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    state: Mapped[str] = mapped_column(String(12))  # frozen | approved | reconciled
    window_start: Mapped[dt.date] = mapped_column(Date)
    window_end: Mapped[dt.date] = mapped_column(Date)
    opened_by: Mapped[str] = mapped_column(String(80))
    opened_at: Mapped[dt.datetime] = mapped_column(Stamp)
    approved_by: Mapped[str | None] = mapped_column(String(80))
    approved_at: Mapped[dt.datetime | None] = mapped_column(Stamp)
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    total_amount: Mapped[int] = mapped_column(BigInteger, default=0)


class PayrollLine(Base):
    """A month's payment to one enrolment, frozen when the payroll is opened.

    No foreign keys, on purpose: lines are written only by ``open_payroll``, in one
    ``INSERT … SELECT`` from the enrolments in force, in the transaction that creates their
    cycle; enrolments, households and cycles are never deleted. A checked key costs PostgreSQL a
    row lock and an index probe per line (2.4 s of 3.0 s for 28,000 lines), which a national
    payroll of two million lines cannot afford.

    The id is computed from the month and the enrolment (``core.payments.line_id``, migration
    0006), so the primary key is also what keeps one line per enrolment per month, and a month's
    lines are one range of it. Lines numbered by a sequence before 0006 keep their ids, below
    ``core.payments.FIRST_LINE_ID``; only they are in the partial month index, which new lines
    never enter (it costs a payroll nothing).
    """

    __tablename__ = "payroll_lines"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    cycle_month: Mapped[dt.date] = mapped_column(Date)
    household_id: Mapped[int] = mapped_column(BigId)
    enrolment_id: Mapped[int] = mapped_column(BigId)
    programme: Mapped[str] = mapped_column(String(24))
    amount: Mapped[int] = mapped_column(BigInteger)
    window_start: Mapped[dt.date] = mapped_column(Date)
    window_end: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10))  # scheduled | sent | paid | failed
    failure_reason: Mapped[str | None] = mapped_column(String(40))
    bank_reference: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[dt.datetime] = mapped_column(Stamp)

    __table_args__ = (
        # No index on the household: a family's lines are found by key (services.payments.household_lines).
        # Lines numbered before migration 0006 are found through these two, which hold only them.
        Index("ix_payroll_lines_before_0006", "cycle_month",
              postgresql_where=text(f"id < {FIRST_LINE_ID}"), sqlite_where=text(f"id < {FIRST_LINE_ID}")),
        Index("ix_payroll_lines_household_before_0006", "household_id", "cycle_month",
              postgresql_where=text(f"id < {FIRST_LINE_ID}"), sqlite_where=text(f"id < {FIRST_LINE_ID}")),
    )


# --- grievances ------------------------------------------------------------------------------


class Grievance(Base):
    __tablename__ = "grievances"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(12), unique=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(16), index=True)
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    region_soato: Mapped[str | None] = mapped_column(String(4))
    category: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(10))
    language: Mapped[str] = mapped_column(String(3))
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12))
    received_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)
    needs_check: Mapped[bool] = mapped_column(Boolean, default=False)
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    assigned_to: Mapped[str | None] = mapped_column(String(80))
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_on: Mapped[dt.date | None] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    appeal_of_id: Mapped[int | None] = mapped_column(ForeignKey("grievances.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
    updated_at: Mapped[dt.datetime] = mapped_column(Stamp)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_grievances_state_due", "state", "due_on"),
        Index("ix_grievances_region_state", "region_soato", "state"),
    )


class GrievanceNote(Base):
    """A reply to the citizen or an internal note on a grievance."""

    __tablename__ = "grievance_notes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    grievance_id: Mapped[int] = mapped_column(ForeignKey("grievances.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(Stamp)
    author: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(10))  # reply | note | extension
    text: Mapped[str] = mapped_column(Text)


# --- audit and outbox ------------------------------------------------------------------------


class AuditEntry(Base):
    """Who did what, when, and through which channel."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(Stamp, index=True)
    actor_kind: Mapped[str] = mapped_column(String(10))  # citizen | staff | agency | system
    actor_id: Mapped[str] = mapped_column(String(80))
    channel: Mapped[str] = mapped_column(String(10))
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

    # A person's access log pages newest first by id: one index range scan, however often read.
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id", "id"),)


class OutboxMessage(Base):
    """A message to a person, written in the same transaction as the change it tells of."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
    household_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    phone: Mapped[str | None] = mapped_column(String(16))
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(10))  # sms | telegram
    priority: Mapped[int] = mapped_column(Integer, default=10)  # 0 reply, 10 notice, 20 bulk
    language: Mapped[str] = mapped_column(String(3))
    template: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    text: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10), default="pending")  # pending|sent|delivered|failed|dead|withdrawn
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(Stamp)
    sent_at: Mapped[dt.datetime | None] = mapped_column(Stamp)
    segments: Mapped[int | None] = mapped_column(Integer)
    provider_message_id: Mapped[str | None] = mapped_column(String(64), index=True)
    error: Mapped[str | None] = mapped_column(String(200))
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    # The broadcast a row carries (migration 0017): its text is worded from ``broadcasts``.
    broadcast_id: Mapped[int | None] = mapped_column(BigInteger)

    # The senders' claim: one channel's due rows, replies first, oldest first (migration 0013);
    # a broadcast's rows by state and channel, to count and withdraw them (migration 0017).
    __table_args__ = (Index("ix_outbox_due", "channel", "state", "priority", "next_attempt_at", "id"),
                      Index("ix_outbox_broadcast", "broadcast_id", "state", "channel"))


class Broadcast(Base):
    """An operator's notice to everyone reachable in a region, district or mahalla (migration 0017).

    The text is held here once per language; the outbox rows carry only the id. ``households`` and
    ``queued_*`` are frozen when it is queued; what became of the rows is read from the outbox."""

    __tablename__ = "broadcasts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    area_kind: Mapped[str] = mapped_column(String(10))  # region | district | mahalla
    area_code: Mapped[str] = mapped_column(String(10))
    text_uz: Mapped[str] = mapped_column(Text)
    text_kaa: Mapped[str] = mapped_column(Text)
    text_ru: Mapped[str] = mapped_column(Text)
    channels: Mapped[str] = mapped_column(String(20))  # "telegram,sms"
    emergency: Mapped[bool] = mapped_column(Boolean)
    priority: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10))  # queued | cancelled
    version: Mapped[int] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer)
    queued_telegram: Mapped[int] = mapped_column(Integer)
    queued_sms: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
    cancelled_by: Mapped[str | None] = mapped_column(String(80))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(Stamp)
    withdrawn: Mapped[int | None] = mapped_column(Integer)  # rows withdrawn by the cancel


class LiveSender(Base):
    """A sender of the outbox, live or lately so: the processes sending one channel share its rate.

    Each running sender (``core.services.dispatch``) has a row per channel, counts its heartbeats in
    ``beats`` every few seconds and takes ``1 / live`` of the channel's rate; a sender that stops
    removes its row, and one whose count stops moving is removed by the others after a timeout.
    ``host``, ``pid``, ``beat_at`` and ``per_second`` are for the operator (migration 0016)."""

    __tablename__ = "outbox_senders"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(10))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(Stamp)
    beat_at: Mapped[dt.datetime] = mapped_column(Stamp)
    beats: Mapped[int] = mapped_column(BigInteger)
    # The senders of its channel it counted, and its share of the rate, as it knew them when it last
    # beat (the count that beat reads is written at the next: the operator's view lags one beat).
    live: Mapped[int] = mapped_column(Integer)
    per_second: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_outbox_senders_channel", "channel"),)


# --- channel state ---------------------------------------------------------------------------


class ChannelSession(Base):
    """A USSD session or a Telegram chat's conversation, shared by every server process."""

    __tablename__ = "channel_sessions"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)  # "ussd:<id>" | "tg:<chat>"
    phone: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(3))
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_input: Mapped[str | None] = mapped_column(Text)
    last_reply: Mapped[str | None] = mapped_column(Text)
    hops: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
    updated_at: Mapped[dt.datetime] = mapped_column(Stamp, index=True)
    ended: Mapped[bool] = mapped_column(Boolean, default=False)


class InboundSms(Base):
    __tablename__ = "inbound_sms"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    gateway_message_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone: Mapped[str] = mapped_column(String(16), index=True)
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(Stamp)
    reply_outbox_id: Mapped[int | None] = mapped_column(BigInteger)


# --- data exchange ---------------------------------------------------------------------------


class ExchangeRecord(Base):
    """Every record an agency sent, kept with its provenance, accepted or not applied."""

    __tablename__ = "exchange_records"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency: Mapped[str] = mapped_column(String(40))
    agency_record_id: Mapped[str] = mapped_column(String(80))
    item: Mapped[str] = mapped_column(String(60))
    pinfl: Mapped[str] = mapped_column(String(14), index=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    as_of: Mapped[dt.date] = mapped_column(Date)
    received_at: Mapped[dt.datetime] = mapped_column(Stamp)
    status: Mapped[str] = mapped_column(String(12))  # current | superseded | stale

    __table_args__ = (
        UniqueConstraint("agency", "agency_record_id", name="uq_exchange_records_agency_record"),
    )


class Fact(Base):
    """The value in force of one data item for one person, with where it came from."""

    __tablename__ = "facts"
    pinfl: Mapped[str] = mapped_column(String(14), primary_key=True)
    item: Mapped[str] = mapped_column(String(60), primary_key=True)
    household_id: Mapped[int | None] = mapped_column(BigInteger)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    agency: Mapped[str] = mapped_column(String(40))
    agency_record_id: Mapped[str] = mapped_column(String(80))
    as_of: Mapped[dt.date] = mapped_column(Date)
    received_at: Mapped[dt.datetime] = mapped_column(Stamp)
    # The ``exchange_records`` row this value came from. A bulk decision keeps only these ids
    # (its provenance is read back through them), and the household index carries them, so
    # assessing a range of households reads its records' ids from the index alone.
    record_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_facts_household_record", "household_id", "record_id"),)


# --- API clients -----------------------------------------------------------------------------


class ApiClient(Base):
    __tablename__ = "api_clients"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    role: Mapped[str] = mapped_column(String(12))  # agency | hotline | operator | auditor | admin
    key_prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
    expires_at: Mapped[dt.datetime | None] = mapped_column(Stamp)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Stamp)
    rate_per_minute: Mapped[int] = mapped_column(Integer, default=600)
    # The key a rotation replaced, still taken until ``previous_key_until`` (migration 0011): an
    # agency's systems move to the new key without an outage.
    previous_key_prefix: Mapped[str | None] = mapped_column(String(16), unique=True)
    previous_key_hash: Mapped[str | None] = mapped_column(String(128))
    previous_key_until: Mapped[dt.datetime | None] = mapped_column(Stamp)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(300))
    body_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
