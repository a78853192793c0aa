"""A synthetic registry, made deterministically from a seed: households, people, incomes, assets,
applications, decisions, enrolments, payrolls and grievances.

Everything here is plain computation (no database): :class:`Generator` turns a seeded
``random.Random`` into rows, one chunk of households at a time, as tuples in the column order of
:data:`COLUMNS`, with ids pre-assigned from the counters it is given, so a child row names its
parent without a round trip. The same seed, the same ``today`` and the same starting counters
give the same rows whatever the chunk size.

What the data looks like (all figures approximate, chosen to make the channels worth trying):

- regions weighted by their 2024 population (``core/data/population.csv``), districts by an even
  share of it, mahallas uniformly; Karakalpak-speaking contacts mostly in Karakalpakstan, Russian
  about 10 % overall, Uzbek otherwise;
- households of 1 to 9 people (mean about 4.5): a head, usually a spouse, children, sometimes
  a parent of the head or a married son with his wife and children;
- incomes for the :data:`INCOME_MONTHS` whole months before today, per earner, around a target
  ratio of income per member to the MCE: some far below, some just below, some from 1.0 to 1.5,
  many well above;
- a few households with what the exclusion filters catch: a new car, two vehicles, two homes, a
  non-residential building, bank balances of 5 × the minimum wage or more, a member in the
  security services;
- families that applied 1 to 3 months ago, decided by :func:`core.eligibility.assess` on the
  data as it was then, enrolled (with paid or failed payroll lines for past months and a line in
  this month's payroll, approved and partly paid once its window has begun) or rejected with its
  reasons; families whose application of this month is waiting; grievances in every state with their legal due dates.

The first :data:`SHOWCASE` households of a run are made to order: for each language, one family
enrolled with a payment coming, one rejected, one waiting, one with an open grievance and one that
has not applied but would qualify; :mod:`core.seed.demo` finds them again.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from core import applications as app_rules
from core import grievances as grievance_rules
from core import payments as pay_rules
from core.amounts import AmountBasis
from core.applications import add_months
from core.eligibility import (
    HouseholdFacts,
    IncomeFacts,
    MemberFacts,
    PropertyFacts,
    VehicleFacts,
    assess,
    income_months,
)
from core.exchange import (
    Mirrored,
    balance_as_of,
    balance_record,
    disability_record,
    income_record,
    load_catalogue,
    mirror_as_of,
    property_record,
    service_record,
    vehicle_record,
)
from core.grievances import damm_digit, new_tracking_number
from core.identity import make_pinfl
from core.rates import RateBook
from core.seed import names
from core.seed.bulk import encode_json

INCOME_MONTHS = 6
# Tables whose rows come with the agency records behind them.
AGENCY_TABLES = ("incomes", "vehicles", "properties", "bank_balances")
BALANCE_VALID_DAYS = load_catalogue().items["bank.balance"].valid_days
# Applications decided this many months ago (weights); incomes must cover 3 months before each.
DECIDED_MONTHS_AGO = ((1, 30), (2, 35), (3, 35))
PAYROLL_FAILURES = ("card_expired", "account_closed", "card_blocked")
SERVICE_BODIES = ("defence", "interior", "emergency", "state_security", "national_guard", "customs")
LANGUAGES = ("uz", "kaa", "ru")
SITUATIONS = ("enrolled", "rejected", "waiting", "grievance", "can_apply")
SHOWCASE = len(LANGUAGES) * len(SITUATIONS)

# How many people live in a household (1..9): mean about 4.5.
HOUSEHOLD_SIZE_WEIGHTS = (5, 11, 16, 20, 19, 13, 8, 5, 3)
# Share of numbers by the first two digits; only prefixes phonenumbers accepts in full are used.
PHONE_PREFIX_WEIGHTS: Mapping[str, int] = {
    "90": 10, "91": 8, "93": 10, "94": 8, "97": 10, "99": 8, "95": 5, "88": 6, "33": 5, "50": 4,
    "77": 4, "98": 3, "20": 3, "92": 2, "87": 2, "70": 1, "80": 1,
}
PASSPORT_SERIES = ("AA", "AB", "AC", "AD", "AE", "FA", "FB")
STREETS = (
    "Navoiy", "Amir Temur", "Bobur", "Mustaqillik", "Ulugʻbek", "Istiqlol", "Bunyodkor", "Guliston",
    "Doʻstlik", "Yangi hayot", "Mirzo Ulugʻbek", "Alisher Navoiy", "Paxtakor", "Tinchlik", "Bahor",
)

# Table → column order of the tuples the generator makes (the bulk writer copies in this order).
COLUMNS: dict[str, tuple[str, ...]] = {
    "households": ("id", "region_soato", "district_soato", "mahalla_id", "address", "head_person_id",
                   "created_at", "data_changed_at"),
    "persons": ("id", "pinfl", "household_id", "relation", "surname", "given_name", "patronymic",
                "birth_date", "sex", "disability", "service_body", "passport"),
    "incomes": ("id", "household_id", "person_id", "month", "source", "amount", "agency"),
    "vehicles": ("id", "household_id", "person_id", "kind", "year", "roadworthy", "plate"),
    "properties": ("id", "household_id", "person_id", "kind", "cadastre_number"),
    "bank_balances": ("id", "household_id", "person_id", "amount", "as_of"),
    "notebook_memberships": ("household_id", "book", "since", "until"),
    "contacts": ("household_id", "phone", "language", "channel", "telegram_chat_id", "telegram_blocked",
                 "updated_at"),
    "applications": ("id", "number", "household_id", "programme", "channel", "language", "state",
                     "submitted_at", "application_month", "decision_month", "declared_changes",
                     "idempotency_key", "verified_at", "decided_at", "decision_id", "version"),
    "decisions": ("id", "household_id", "application_id", "decided_on", "eligible", "category", "programme",
                  "amount", "share_percent", "duration_months", "mce", "income_per_member", "reasons",
                  "inputs", "created_at"),
    "enrolments": ("id", "household_id", "programme", "category", "decision_id", "first_month", "last_month",
                   "amount", "state", "ended_on", "children", "infant", "share_percent"),
    "payroll_lines": ("id", "cycle_month", "household_id", "enrolment_id", "programme", "amount",
                      "window_start", "window_end", "status", "failure_reason", "bank_reference", "updated_at"),
    "exchange_records": ("id", "agency", "agency_record_id", "item", "pinfl", "value", "as_of", "received_at",
                         "status"),
    "facts": ("pinfl", "item", "household_id", "value", "agency", "agency_record_id", "as_of", "received_at",
              "record_id"),
    "grievances": ("id", "number", "household_id", "phone", "telegram_chat_id", "region_soato", "category",
                   "channel", "language", "text", "state", "received_on", "due_on", "needs_check", "extended",
                   "extension_reason", "assigned_to", "escalation_level", "answer", "answered_on", "closed_on",
                   "appeal_of_id", "idempotency_key", "created_at", "updated_at", "version"),
}
# Tables whose JSON columns the generator writes as JSON text (the writer passes them on as they are).
ENCODED = frozenset({"exchange_records", "facts"})
# Tables with an ``id`` the generator assigns.
ID_TABLES = tuple(t for t, cols in COLUMNS.items() if cols[0] == "id")

GRIEVANCE_TEXTS: Mapping[str, Mapping[str, str]] = {
    "payment": {
        "uz": "Oylik nafaqa kartamga tushmadi, iltimos tekshirib bering.",
        "kaa": "Aylıq járdem puli kartama túspedi, tekserip beriwińizdi soraymań.",
        "ru": "Пособие за месяц не поступило на карту, прошу проверить.",
    },
    "eligibility": {
        "uz": "Arizam rad etildi, lekin oilamizning daromadi kam. Qayta koʻrib chiqishingizni soʻrayman.",
        "kaa": "Arzamız biykarlandı, biraq shańaraǵımızdıń dáramatı az. Qayta kórip shıǵıwıńızdı soraymań.",
        "ru": "Мне отказали, хотя доход семьи низкий. Прошу пересмотреть решение.",
    },
    "data_error": {
        "uz": "Reestrda oilamiz tarkibi notoʻgʻri koʻrsatilgan.",
        "kaa": "Reestrde shańaraǵımızdıń quramı qáte kórsetilgen.",
        "ru": "В реестре неверно указан состав нашей семьи.",
    },
    "application": {
        "uz": "Arizam holati haqida maʼlumot ololmayapman.",
        "kaa": "Arzamnıń jaǵdayı haqqında maǵlıwmat ala almay atırman.",
        "ru": "Не могу узнать статус своей заявки.",
    },
    "service_quality": {
        "uz": "Mahalla markazida navbat juda uzun.",
        "kaa": "Máhálle orayında gezek júdá uzın.",
        "ru": "В махаллинском центре очень длинная очередь.",
    },
}
GRIEVANCE_ANSWERS: Mapping[str, str] = {
    "uz": "Murojaatingiz koʻrib chiqildi, maʼlumotlar tekshirildi.",
    "kaa": "Múrájatıńız kórip shıǵıldı, maǵlıwmatlar tekserildi.",
    "ru": "Ваше обращение рассмотрено, данные проверены.",
}


@dataclass(frozen=True)
class TerritoryIndex:
    """What the generator needs of the territory: weights and mahallas, as plain data."""

    regions: tuple[str, ...]
    region_weights: tuple[float, ...]
    ru_share: Mapping[str, float]
    kaa_share: Mapping[str, float]
    districts: Mapping[str, tuple[tuple[str, ...], tuple[float, ...]]]  # region → (soatos, weights)
    mahallas: Mapping[str, tuple[tuple[int, str], ...]]  # district → ((id, name_uz), ...)


@dataclass
class Counters:
    """Where numbering resumes: next ids, PINFL and phone serials already used, numbers taken.

    Several generators can fill one registry at once, each with one *lane* of the counters
    (:meth:`split`): lane ``w`` of ``lanes`` takes every ``lanes``-th id, serial and application
    counter from ``w`` on, and the grievance numbers whose value is ``w`` modulo ``lanes``, so no
    two lanes ever make the same identifier and none needs to hear from the others."""

    next_id: dict[str, int]
    pinfl_used: dict[tuple[dt.date, str], int] = field(default_factory=dict)  # (birth date, sex) → next serial
    phones_used: dict[str, int] = field(default_factory=dict)  # two-digit prefix → next serial
    applications: int = 0
    application_numbers: set[str] = field(default_factory=set)  # taken by others
    grievance_numbers: set[str] = field(default_factory=set)
    # Months whose payroll is stored: frozen, so no line is added to them (their families go unpaid there).
    payrolls_kept: frozenset[dt.date] = frozenset()
    lane: int = 0
    lanes: int = 1

    @classmethod
    def empty(cls) -> Counters:
        return cls(next_id=dict.fromkeys(ID_TABLES, 1))

    def split(self, lanes: int) -> list[Counters]:
        """``lanes`` disjoint lanes of these (single-lane) counters."""
        if self.lanes != 1 or lanes < 1:
            raise ValueError("only single-lane counters split, into one lane or more")
        return [Counters(
            next_id={t: n + w for t, n in self.next_id.items()},
            pinfl_used={k: n + w for k, n in self.pinfl_used.items()},
            phones_used={k: n + w for k, n in self.phones_used.items()},
            applications=self.applications + w,
            application_numbers=set(self.application_numbers),
            grievance_numbers=set(self.grievance_numbers),
            payrolls_kept=self.payrolls_kept,
            lane=w, lanes=lanes,
        ) for w in range(lanes)]


@dataclass
class Chunk:
    rows: dict[str, list[tuple[Any, ...]]]
    households: int
    cycle_months: set[dt.date]


def payroll_months(today: dt.date) -> tuple[dt.date, ...]:
    """The months the generated payroll lines fall in: from the first payment of the oldest
    decision (the month after it) to this month."""
    month = today.replace(day=1)
    oldest = max(k for k, _ in DECIDED_MONTHS_AGO)
    return tuple(add_months(month, -k) for k in range(oldest - 1, -1, -1))


def allocated_prefixes() -> tuple[str, ...]:
    """Two-digit mobile prefixes phonenumbers accepts for every number under them, in the order of
    :data:`PHONE_PREFIX_WEIGHTS` (new ranges need only a metadata update)."""
    out = []
    for prefix in PHONE_PREFIX_WEIGHTS:
        samples = (f"+998{prefix}{d}{tail}" for d in range(10) for tail in ("000000", "999999", "505050"))
        if all(_is_uz_mobile(s) for s in samples):
            out.append(prefix)
    return tuple(out)


def _is_uz_mobile(e164: str) -> bool:
    n = phonenumbers.parse(e164)
    return phonenumbers.is_valid_number(n) and phonenumbers.number_type(n) in (
        phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def _permute(counter: int, modulus: int, multiplier: int, offset: int) -> int:
    """A bijection of 0..modulus-1 (``multiplier`` co-prime with ``modulus``): numbers that look
    random but never repeat, without remembering the ones given out."""
    return (counter * multiplier + offset) % modulus


# The permutations below, as constants the loader also uses (in SQL) to find the serials used.
PINFL_SERIALS, PINFL_MULTIPLIER, PINFL_FIRST = 900_000, 7919, 100_000
PINFL_DAY_STEP, PINFL_FEMALE_STEP = 7777, 4242
PHONE_SERIALS, PHONE_MULTIPLIER, PHONE_OFFSET = 10_000_000, 3_141_593, 104_729


def pinfl_offset(birth: dt.date, sex: str) -> int:
    return (birth.toordinal() * PINFL_DAY_STEP + (PINFL_FEMALE_STEP if sex == "f" else 0)) % PINFL_SERIALS


def pinfl_tail(birth: dt.date, sex: str, counter: int) -> tuple[int, int]:
    """(place, serial) of the n-th person born on a day with a sex: unique per day and sex, and
    different-looking from one day to the next."""
    v = _permute(counter, PINFL_SERIALS, PINFL_MULTIPLIER, pinfl_offset(birth, sex)) + PINFL_FIRST
    return v // 1000, v % 1000


def phone_number(prefix: str, counter: int) -> str:
    return f"+998{prefix}{_permute(counter, PHONE_SERIALS, PHONE_MULTIPLIER, int(prefix) * PHONE_OFFSET):07d}"


def application_number(counter: int) -> str:
    """Eight digits that never repeat within 10^8 applications, and their Damm check digit, like
    the numbers the application service hands out."""
    body = f"{_permute(counter, 100_000_000, 48_271_129, 13_579_024):08d}"
    return body + str(damm_digit(body))


@dataclass
class _Member:
    id: int
    relation: str
    sex: str
    birth: dt.date
    surname: str
    given: str
    patronymic: str | None
    disability: str | None = None
    service_body: str | None = None
    pinfl: str = ""


@dataclass(frozen=True)
class _Culture:
    male: tuple[str, ...]
    female: tuple[str, ...]
    slavic: bool
    style: str


_UZ = _Culture(names.UZ_MALE, names.UZ_FEMALE, False, "uz")
_KAA = _Culture(names.KAA_MALE, names.KAA_FEMALE, False, "kaa")
_KAA_UZ = _Culture(names.UZ_MALE, names.UZ_FEMALE, False, "kaa")
_RU_SLAVIC = _Culture(names.RU_MALE, names.RU_FEMALE, True, "ru")
_RU_UZ = _Culture(names.UZ_MALE, names.UZ_FEMALE, False, "ru")


def _cum(weights: Sequence[float]) -> tuple[float, ...]:
    return tuple(itertools.accumulate(weights))


_json_string = json.encoder.encode_basestring  # a JSON string literal, as the writer's encoder writes it


def _json_value(value: Any) -> str:
    """An agency record's value as JSON text: numbers, flags and codes written directly."""
    kind = value.__class__
    if kind is int:
        return str(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is str:
        return _json_string(value)
    return encode_json(value)


class Generator:
    """Makes households one after another from one seeded random stream."""

    def __init__(
        self,
        rng: random.Random,
        territory: TerritoryIndex,
        counters: Counters,
        book: RateBook,
        today: dt.date,
        now: dt.datetime,
    ) -> None:
        self.rng = rng
        self.t = territory
        self.c = counters
        self.book = book
        self.today = today
        self.now = now
        self.tz = now.tzinfo
        self.month = today.replace(day=1)
        self.income_months = tuple(add_months(self.month, -k) for k in range(INCOME_MONTHS, 0, -1))
        self.counted_months = frozenset(income_months(today))
        self.records_as_of = mirror_as_of(today)
        self.records_received = min(dt.datetime.combine(self.records_as_of, dt.time(10, 0), tzinfo=now.tzinfo), now)
        self.mce_now = book.mce.in_force(today)
        self.min_wage = book.minimum_wage.in_force(today)
        prefixes = allocated_prefixes()
        self.prefixes = prefixes
        self.prefix_cum = _cum([PHONE_PREFIX_WEIGHTS[p] for p in prefixes])
        self.size_cum = _cum(HOUSEHOLD_SIZE_WEIGHTS)
        self.windows = {m: pay_rules.payment_window(m, book) for m in payroll_months(today)}
        self.made = 0  # households made by this generator (the first SHOWCASE are made to order)
        self.region_cum = _cum(territory.region_weights)
        self.district_cum = {r: (soatos, _cum(w)) for r, (soatos, w) in territory.districts.items()}
        weights = dict(zip(territory.regions, territory.region_weights, strict=True))
        self.non_kaa_regions = tuple(r for r in territory.regions if territory.kaa_share.get(r, 0) < 0.5)
        self.non_kaa_cum = _cum([weights[r] for r in self.non_kaa_regions])

    # --- helpers -------------------------------------------------------------------------

    def _id(self, table: str) -> int:
        n = self.c.next_id[table]
        self.c.next_id[table] = n + self.c.lanes
        return n

    def _at(self, day: dt.date, hour: int | None = None) -> dt.datetime:
        h = self.rng.randint(9, 17) if hour is None else hour
        stamp = dt.datetime.combine(day, dt.time(h, self.rng.randrange(60)), tzinfo=self.tz)
        return min(stamp, self.now)

    def _pick(self, items: Sequence[Any], cum: Sequence[float]) -> Any:
        return items[bisect.bisect_right(cum, self.rng.random() * cum[-1])]

    def _birth(self, age: int) -> dt.date:
        """A birth date giving ``age`` whole years today."""
        latest = _years_before(self.today, age)
        earliest = _years_before(self.today, age + 1) + dt.timedelta(days=1)
        span = (latest - earliest).days
        return earliest + dt.timedelta(days=self.rng.randint(0, span))

    def _pinfl(self, birth: dt.date, sex: str) -> str:
        # Two people born the same day with the same sex differ by their place/serial digits.
        key = (birth, sex)
        n = self.c.pinfl_used.get(key, self.c.lane)
        self.c.pinfl_used[key] = n + self.c.lanes
        place, serial = pinfl_tail(birth, sex, n)
        return make_pinfl(birth, sex, place, serial).value

    def _phone(self) -> str:
        prefix = self._pick(self.prefixes, self.prefix_cum)
        n = self.c.phones_used.get(prefix, self.c.lane)
        self.c.phones_used[prefix] = n + self.c.lanes
        return phone_number(prefix, n)

    def _application_number(self) -> str:
        while True:
            number = application_number(self.c.applications)
            self.c.applications += self.c.lanes
            if number not in self.c.application_numbers:
                return number

    def _grievance_number(self) -> str:
        while True:
            number = new_tracking_number(self.rng).digits
            if int(number) % self.c.lanes == self.c.lane and number not in self.c.grievance_numbers:
                self.c.grievance_numbers.add(number)
                return number

    # --- one chunk ---------------------------------------------------------------------------

    def chunk(self, households: int) -> Chunk:
        rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in COLUMNS}
        months: set[dt.date] = set()
        for _ in range(households):
            plan = None
            if self.made < SHOWCASE and self.c.lane == 0:  # lane 0 makes the showcase
                plan = (LANGUAGES[self.made // len(SITUATIONS)], SITUATIONS[self.made % len(SITUATIONS)])
            self._household(rows, months, plan)
            self.made += 1
        return Chunk(rows, households, months)

    def _household(self, rows: dict[str, list[tuple[Any, ...]]], months: set[dt.date],
                   plan: tuple[str, str] | None) -> None:
        rng = self.rng
        t = self.t
        hid = self._id("households")
        situation = plan[1] if plan else None
        marks = {table: len(rows[table]) for table in AGENCY_TABLES}

        # Where, and in which language.
        if plan:
            language = plan[0]
            if language == "kaa":
                region = max(t.kaa_share, key=lambda r: t.kaa_share[r])
            elif language == "ru":
                region = max(t.ru_share, key=lambda r: t.ru_share[r])
            else:
                region = self._pick(self.non_kaa_regions, self.non_kaa_cum)
        else:
            region = self._pick(t.regions, self.region_cum)
            r = rng.random()
            kaa, ru = t.kaa_share.get(region, 0.0), t.ru_share.get(region, 0.0)
            language = "kaa" if r < kaa else "ru" if r < kaa + ru else "uz"
        soatos, cum_w = self.district_cum[region]
        district = self._pick(soatos, cum_w)
        mahalla_id, mahalla_name = rng.choice(t.mahallas[district])

        if language == "kaa":
            culture = _KAA if rng.random() < 0.85 else _KAA_UZ
        elif language == "ru":
            culture = _RU_SLAVIC if rng.random() < 0.5 else _RU_UZ
        else:
            culture = _UZ

        # Who lives there.
        if situation in ("enrolled", "grievance", "waiting", "can_apply"):
            size = rng.randint(4, 6)
        elif situation == "rejected":
            size = rng.randint(3, 5)
        else:
            size = self._pick(range(1, 10), self.size_cum)
        members = self._members(hid, size, culture, young_family=situation is not None)

        # Income: a target ratio of income per member to the MCE.
        if situation in ("enrolled", "grievance", "waiting", "can_apply"):
            ratio = rng.uniform(0.35, 0.6)
        elif situation == "rejected":
            ratio = (rng.uniform(0.4, 0.7), rng.uniform(1.7, 2.5), rng.uniform(0.5, 0.8))[LANGUAGES.index(language)]
        else:
            u = rng.random()
            ratio = (rng.uniform(0.2, 0.8) if u < 0.28 else rng.uniform(0.8, 1.0) if u < 0.45
                     else rng.uniform(1.0, 1.5) if u < 0.60 else rng.uniform(1.5, 4.5))
        poor = ratio < 1.5
        incomes = self._incomes(hid, members, ratio, rows)

        # Assets.
        vehicles: list[VehicleFacts] = []
        properties: list[PropertyFacts] = []
        balance = 0
        head = members[0]
        adults = [m for m in members if _age(m.birth, self.today) >= 18]

        def owner() -> int:
            return int(rng.choice(adults).id)

        if rng.random() < 0.9:
            properties.append(self._property(rows, hid, owner(), "residential", district))
        if situation is None:
            if rng.random() < (0.015 if poor else 0.12):
                properties.append(self._property(rows, hid, owner(), "residential", district))
            if rng.random() < (0.008 if poor else 0.06):
                properties.append(self._property(rows, hid, owner(), "non_residential", district))
            if rng.random() < 0.25:
                vehicles.append(self._vehicle(rows, hid, owner(), self.today.year - rng.randint(9, 30),
                                              rng.random() < 0.85, region))
            if rng.random() < (0.02 if poor else 0.2):
                vehicles.append(self._vehicle(rows, hid, owner(), self.today.year - rng.randint(0, 6), True, region))
            if rng.random() < (0.01 if poor else 0.05):
                vehicles.append(self._vehicle(rows, hid, owner(), self.today.year - rng.randint(8, 20), True,
                                              region, kind=rng.choice(("truck", "motorcycle", "tractor"))))
            if rng.random() < 0.15:
                balance += self._balance(rows, hid, owner(), rng.randint(50, 2000) * 1000)
            if rng.random() < (0.007 if poor else 0.08):
                balance += self._balance(rows, hid, owner(), self.min_wage * rng.randint(5, 40))
        elif situation == "rejected":
            if language == "uz":
                vehicles.append(self._vehicle(rows, hid, head.id, self.today.year - 2, True, region))
            elif language == "ru":
                properties.append(self._property(rows, hid, head.id, "residential", district))
                balance += self._balance(rows, hid, head.id, self.min_wage * 6)

        # Notebooks of the Iron, Women's and Youth programmes.
        if poor and situation is None:
            for book, p, who in (("iron", 0.10, adults), ("women", 0.06, [m for m in adults if m.sex == "f"]),
                                 ("youth", 0.05, [m for m in adults if _age(m.birth, self.today) <= 30])):
                if who and rng.random() < p:
                    since = self.today - dt.timedelta(days=rng.randint(30, 700))
                    until = since + dt.timedelta(days=365) if rng.random() < 0.3 else None
                    rows["notebook_memberships"].append((hid, book, since, until))

        # Contact.
        created = self._at(self.today - dt.timedelta(days=rng.randint(120, 1500)))
        phone = self._phone()
        channel = "ussd" if rng.random() < 0.4 else "sms"
        rows["contacts"].append((hid, phone, language, channel, None, False, created))

        # The household's story with the registry.
        facts_members = tuple(MemberFacts(m.pinfl, m.birth, m.sex, m.relation, m.disability, m.service_body)
                              for m in members)
        facts = HouseholdFacts(facts_members, tuple(incomes), tuple(vehicles), tuple(properties), balance)
        story = self._story(situation, ratio)
        if story in ("decided", "decided_grievance"):
            self._decided(rows, months, hid, language, channel, facts, situation, phone, region)
        elif story == "waiting":
            self._waiting(rows, hid, language, channel, members)
        if story == "decided_grievance" or (situation is None and rng.random() < 0.02):
            self._grievance(rows, hid, phone, region, language, situation, story)

        address = f"{mahalla_name} MFY, {rng.choice(STREETS)} koʻchasi, {rng.randint(1, 180)}-uy"
        rows["households"].append((hid, region, district, mahalla_id, address, head.id, created, created))
        self._agency_records(rows, hid, members, marks)
        for m in members:
            passport = None
            if _age(m.birth, self.today) >= 16:
                passport = f"{rng.choice(PASSPORT_SERIES)}{rng.randrange(10**7):07d}"
            rows["persons"].append((m.id, m.pinfl, hid, m.relation, m.surname, m.given, m.patronymic, m.birth,
                                    m.sex, m.disability, m.service_body, passport))

    def _story(self, situation: str | None, ratio: float) -> str | None:
        if situation in ("enrolled", "rejected"):
            return "decided"
        if situation == "grievance":
            return "decided_grievance"
        if situation == "waiting":
            return "waiting"
        if situation == "can_apply":
            return None
        u = self.rng.random()
        applied = 0.75 if ratio < 1.0 else 0.4 if ratio < 1.5 else 0.06
        if u < applied:
            return "decided"
        if u < applied + (0.05 if ratio < 1.6 else 0.005):
            return "waiting"
        return None

    # --- members ---------------------------------------------------------------------------

    def _members(self, hid: int, size: int, culture: _Culture, *, young_family: bool) -> list[_Member]:
        rng = self.rng
        out: list[tuple[str, str, int]] = []  # relation, sex, age
        if size == 1:
            head_sex = "m" if rng.random() < 0.5 else "f"
            head_age = rng.randint(60, 88) if rng.random() < 0.7 else rng.randint(22, 59)
        else:
            head_sex = "m" if rng.random() < 0.85 else "f"
            head_age = rng.randint(28, 45) if young_family else min(88, int(rng.triangular(23, 80, 42)))
        out.append(("head", head_sex, head_age))
        if size >= 2 and (young_family or rng.random() < 0.9):
            if head_sex == "m":
                out.append(("spouse", "f", max(18, head_age - rng.randint(1, 7))))
            else:
                out.append(("spouse", "m", head_age + rng.randint(1, 6)))
        mother_age = next((a for rel, s, a in out if s == "f"), head_age)
        left = size - len(out)
        if left >= 3 and head_age >= 55 and rng.random() < 0.6:
            son_age = max(20, head_age - rng.randint(22, 30))
            out.append(("child", "m", son_age))
            out.append(("other", "f", max(18, son_age - rng.randint(1, 5))))
            eldest = min(son_age - 19, 14)
            for _ in range(left - 2):
                out.append(("grandchild", "m" if rng.random() < 0.51 else "f", rng.randint(0, max(0, eldest))))
        else:
            if left >= 3 and rng.random() < 0.2 and head_age < 60:
                out.append(("parent", "m" if rng.random() < 0.35 else "f", min(92, head_age + rng.randint(22, 32))))
                left -= 1
            oldest = max(0, min(mother_age - 19, 24 if not young_family else 16))
            age = rng.randint(max(0, oldest - 4), oldest) if oldest else 0
            for _ in range(left):
                out.append(("child", "m" if rng.random() < 0.51 else "f", age))
                age = max(0, age - rng.randint(1, 4))

        # Names: a family surname from an ancestor, patronymics from the fathers.
        male, female = culture.male, culture.female
        family = rng.choice(names.RU_SURNAMES) if culture.slavic else rng.choice(male)

        def family_name(sex: str, stem: str) -> str:
            return names.russian_surname(stem, sex) if culture.slavic else names.surname_from(stem, sex)

        def other_stem() -> str:
            return rng.choice(names.RU_SURNAMES) if culture.slavic else rng.choice(male)

        head_father = rng.choice(male)
        members: list[_Member] = []
        given_by_role: dict[str, str] = {}
        for relation, sex, age in out:
            given = rng.choice(male if sex == "m" else female)
            if relation in ("head",):
                surname, father = family_name(sex, family), head_father
            elif relation == "spouse":
                stem = family if rng.random() < 0.55 else other_stem()
                surname, father = family_name(sex, stem), rng.choice(male)
            elif relation == "parent":
                if sex == "m":
                    given, surname, father = head_father, family_name("m", family), rng.choice(male)
                else:
                    surname, father = family_name("f", other_stem()), rng.choice(male)
            elif relation == "child":
                dad = given_by_role.get("head_m") or given_by_role.get("spouse_m") or rng.choice(male)
                surname, father = family_name(sex, family), dad
            elif relation == "grandchild":
                dad = given_by_role.get("son") or rng.choice(male)
                surname, father = family_name(sex, family), dad
            else:
                surname, father = family_name(sex, other_stem()), rng.choice(male)
            if relation in ("head", "spouse") and sex == "m":
                given_by_role[f"{relation}_m"] = given
            if relation == "child" and "son" not in given_by_role and age >= 20 and sex == "m":
                given_by_role["son"] = given
            birth = self._birth(age)
            m = _Member(self._id("persons"), relation, sex, birth, surname, given,
                        names.patronymic(father, sex, culture.style))
            if rng.random() < 0.03:
                m.disability = ("child" if age < 18 else rng.choice(("group1", "group2", "group2", "group3", "group3")))
            if not young_family and sex == "m" and 19 <= age <= 50 and rng.random() < 0.012:
                m.service_body = rng.choice(SERVICE_BODIES)
            m.pinfl = self._pinfl(birth, sex)
            members.append(m)
        return members

    # --- incomes and assets ------------------------------------------------------------------

    def _incomes(self, hid: int, members: list[_Member], ratio: float,
                 rows: dict[str, list[tuple[Any, ...]]]) -> list[IncomeFacts]:
        rng = self.rng
        wa = self.book.working_age.in_force(self.today)
        earners: list[tuple[_Member, str]] = []
        for m in members:
            age = _age(m.birth, self.today)
            if age < 18:
                continue
            pensioner = age > (wa.male_max_age if m.sex == "m" else wa.female_max_age)
            p = 1.0 if m.relation == "head" else 0.8 if pensioner else 0.45
            if rng.random() < p:
                source = "pension" if pensioner else rng.choice(("wage", "wage", "wage", "self_employment",
                                                                 "agriculture"))
                earners.append((m, source))
        if not earners:
            earners.append((members[0], "other"))
        total = ratio * self.mce_now * len(members)
        shares = [rng.uniform(0.5, 1.5) for _ in earners]
        scale = total / sum(shares)
        out: list[IncomeFacts] = []
        agencies = {"wage": "tax", "self_employment": "tax", "pension": "pension_fund"}
        for (m, source), share in zip(earners, shares, strict=True):
            base = share * scale
            for month in self.income_months:
                amount = int(base * rng.uniform(0.9, 1.1)) // 1000 * 1000
                if amount <= 0:
                    continue
                rows["incomes"].append((self._id("incomes"), hid, m.id, month, source, amount, agencies.get(source)))
                out.append(IncomeFacts(month, source, amount))
        return out

    def _property(self, rows: dict[str, list[tuple[Any, ...]]], hid: int, person_id: int, kind: str,
                  district: str) -> PropertyFacts:
        rng = self.rng
        cadastre = f"{district[2:4]}:{district[4:7]}:{rng.randint(1, 99):02d}:{rng.randint(1, 99):02d}:{rng.randint(1, 9999):04d}"
        rows["properties"].append((self._id("properties"), hid, person_id, kind, cadastre))
        return PropertyFacts(kind)

    def _vehicle(self, rows: dict[str, list[tuple[Any, ...]]], hid: int, person_id: int, year: int,
                 roadworthy: bool, region: str, kind: str = "car") -> VehicleFacts:
        rng = self.rng
        letters = "ABCDEFHKLMNOPSTUXYZ"
        plate = (f"{int(region[2:4]) % 100:02d}{rng.choice(letters)}{rng.randint(0, 999):03d}"
                 f"{rng.choice(letters)}{rng.choice(letters)}")
        rows["vehicles"].append((self._id("vehicles"), hid, person_id, kind, year, roadworthy, plate))
        return VehicleFacts(year, roadworthy)

    def _balance(self, rows: dict[str, list[tuple[Any, ...]]], hid: int, person_id: int, amount: int) -> int:
        as_of = self.today - dt.timedelta(days=self.rng.randint(1, 20))
        rows["bank_balances"].append((self._id("bank_balances"), hid, person_id, amount, as_of))
        return amount

    def _agency_records(self, rows: dict[str, list[tuple[Any, ...]]], hid: int, members: list[_Member],
                        marks: dict[str, int]) -> None:
        """The agency records behind what was just generated for the household (its counted
        incomes, assets, disability and service), as ``spsr exchange generate`` would write them:
        with them every value the registry holds has its provenance. Uses no randomness."""
        pinfl = {m.id: m.pinfl for m in members}
        as_of, received = self.records_as_of, self.records_received
        records, facts = rows["exchange_records"], rows["facts"]

        def record(person_id: int, mirrored: Mirrored, value: Any, on: dt.date = as_of) -> None:
            p = pinfl[person_id]
            item, key, rid = mirrored
            agency = item.split(".")[0]
            record_id = self._id("exchange_records")
            written = _json_value(value)
            records.append((record_id, agency, rid, item, p,
                            '{"value":' + written + ',"key":' + ("null" if key is None else _json_string(key)) + "}",
                            on, received, "current"))
            facts.append((p, item if key is None else f"{item}|{key}", hid, '{"value":' + written + "}",
                          agency, rid, on, received, record_id))

        for _, _, pid, month, source, amount, _ in rows["incomes"][marks["incomes"]:]:
            income = income_record(pid, month, source)
            if income is not None and month in self.counted_months:
                record(pid, income, amount)
        for vid, _, pid, kind, year, roadworthy, plate in rows["vehicles"][marks["vehicles"]:]:
            record(pid, vehicle_record(vid, plate), {"year": year, "roadworthy": roadworthy, "kind": kind})
        for prop_id, _, pid, kind, cadastre in rows["properties"][marks["properties"]:]:
            record(pid, property_record(prop_id, kind, cadastre), True)
        for bid, _, pid, amount, on in rows["bank_balances"][marks["bank_balances"]:]:
            record(pid, balance_record(bid), amount, balance_as_of(on, self.today, BALANCE_VALID_DAYS))
        for m in members:
            if m.disability is not None:
                record(m.id, disability_record(m.id), m.disability)
            service = service_record(m.id, m.service_body)
            if service is not None:
                record(m.id, service, True)

    # --- applications, decisions, payrolls, grievances --------------------------------------

    def _decided(self, rows: dict[str, list[tuple[Any, ...]]], months: set[dt.date], hid: int, language: str,
                 channel: str, facts: HouseholdFacts, situation: str | None, phone: str, region: str) -> dt.datetime:
        rng = self.rng
        if situation == "rejected":
            ago = 1
        elif situation in ("enrolled", "grievance"):
            ago = 2
        else:
            ago = self._pick([k for k, _ in DECIDED_MONTHS_AGO], _cum([w for _, w in DECIDED_MONTHS_AGO]))
        month = add_months(self.month, -ago)
        submitted_on = month.replace(day=rng.randint(1, self.book.applications.in_force(month).cutoff_day))
        submitted_at = self._at(submitted_on)
        decided_on = submitted_on + dt.timedelta(days=rng.randint(1, 5))
        decided_at = self._at(decided_on, hour=6)
        then = HouseholdFacts(
            tuple(m for m in facts.members if m.birth_date <= submitted_on),
            facts.incomes, facts.vehicles, facts.properties, facts.bank_balance_total,
        )
        outcome = assess(then, submitted_on, self.book)
        if situation in ("enrolled", "grievance") and not outcome.eligible:
            raise AssertionError(f"showcase household {hid} is not eligible: {outcome.reason_codes}")
        app_id, decision_id = self._id("applications"), self._id("decisions")
        decision_month = app_rules.decision_month(submitted_on, self.book)
        state = app_rules.REJECTED
        version = 3
        if outcome.eligible:
            first, last = app_rules.enrolment_period(decision_month, outcome.duration_months)
            state = app_rules.ENROLLED if first <= self.month else app_rules.APPROVED
            version = 4 if state == app_rules.ENROLLED else 3
            enrolment_id = self._id("enrolments")
            active = last >= self.month
            basis = AmountBasis.from_codes(outcome.programme, [
                line["code"] for line in (outcome.inputs.get("amount") or {}).get("lines", [])],
                outcome.share_percent)
            rows["enrolments"].append((enrolment_id, hid, outcome.programme, outcome.category, decision_id, first,
                                       last, outcome.monthly_amount, "active" if active else "ended",
                                       None if active else add_months(last, 1), basis.children, basis.infant,
                                       basis.share_percent))
            self._payroll(rows, months, hid, enrolment_id, outcome.programme, outcome.monthly_amount, first,
                          min(last, self.month), situation)
        rows["applications"].append((
            app_id, self._application_number(), hid, outcome.programme, channel, language, state, submitted_at,
            app_rules.application_month(submitted_on), decision_month, {"changes": ["nothing"], "note": None},
            None, decided_at, decided_at, decision_id, version,
        ))
        rows["decisions"].append((
            decision_id, hid, app_id, decided_on, outcome.eligible, outcome.category, outcome.programme,
            outcome.monthly_amount, outcome.share_percent, outcome.duration_months, outcome.mce,
            outcome.income_per_member, [r.to_dict() for r in outcome.reasons], {"decision": outcome.to_dict()},
            decided_at,
        ))
        return decided_at

    def _payroll(self, rows: dict[str, list[tuple[Any, ...]]], months: set[dt.date], hid: int, enrolment_id: int,
                 programme: str, amount: int, first: dt.date, last: dt.date, situation: str | None) -> None:
        rng = self.rng
        month = first
        while month <= last:
            window = self.windows[month]  # cycles exist for these months only
            reason = reference = None
            if month < self.month or self.today > window.last_day:
                status = pay_rules.FAILED if rng.random() < 0.03 else pay_rules.PAID
                if situation == "grievance" and month == add_months(self.month, -1):
                    status = pay_rules.FAILED
                elif situation in ("enrolled", "grievance"):
                    status = pay_rules.PAID
                updated = self._at(window.first_day + dt.timedelta(days=rng.randint(0, 10)))
            elif self.today < window.first_day or situation in ("enrolled", "grievance"):
                status, updated = pay_rules.SCHEDULED, self._at(month)
            else:
                done = (self.today - window.first_day).days / max(1, (window.last_day - window.first_day).days)
                u = rng.random()
                status = pay_rules.PAID if u < done * 0.9 else pay_rules.SENT if u < done else pay_rules.SCHEDULED
                updated = self._at(self.today if status != pay_rules.SCHEDULED else month)
            if status == pay_rules.FAILED:
                reason = rng.choice(PAYROLL_FAILURES)
            line_id = pay_rules.line_id(month, enrolment_id)
            if status == pay_rules.PAID:
                reference = f"XB{line_id}"  # the id holds the month: XB2026110000012345
            if month not in self.c.payrolls_kept:  # drawn all the same: the rest of the registry stays as it was
                months.add(month)
                rows["payroll_lines"].append((line_id, month, hid, enrolment_id, programme, amount,
                                              window.first_day, window.last_day, status, reason, reference, updated))
            month = add_months(month, 1)

    def _waiting(self, rows: dict[str, list[tuple[Any, ...]]], hid: int, language: str, channel: str,
                 members: list[_Member]) -> None:
        rng = self.rng
        submitted_on = self.month.replace(day=rng.randint(1, self.today.day))
        has_child = any(_age(m.birth, submitted_on) < 18 for m in members)
        state = app_rules.SUBMITTED if submitted_on == self.today or rng.random() < 0.5 else app_rules.VERIFYING
        rows["applications"].append((
            self._id("applications"), self._application_number(), hid,
            "child_benefit" if has_child else "material_assistance", channel, language, state,
            self._at(submitted_on), app_rules.application_month(submitted_on),
            app_rules.decision_month(submitted_on, self.book), {"changes": ["nothing"], "note": None}, None,
            None, None, None, 1 if state == app_rules.SUBMITTED else 2,
        ))

    def _grievance(self, rows: dict[str, list[tuple[Any, ...]]], hid: int, phone: str, region: str,
                   language: str, situation: str | None, story: str | None) -> None:
        rng = self.rng
        if situation == "grievance":
            category, age_days, state = "payment", 5, grievance_rules.IN_PROGRESS
        else:
            category = rng.choice(("payment", "eligibility", "data_error", "application", "service_quality"))
            age_days = rng.randint(0, 75)
            state = (grievance_rules.RECEIVED if age_days < 2 else
                     rng.choice((grievance_rules.ASSIGNED, grievance_rules.IN_PROGRESS)) if age_days < 12 else
                     rng.choice((grievance_rules.IN_PROGRESS, grievance_rules.ANSWERED, grievance_rules.CLOSED,
                                 grievance_rules.CLOSED)))
        received = self.today - dt.timedelta(days=age_days)
        needs_check = situation != "grievance" and rng.random() < 0.3
        due = grievance_rules.due_date(received, needs_check, self.book)
        extended = False
        extension_reason = None
        if state in (grievance_rules.IN_PROGRESS, grievance_rules.ASSIGNED) and due < self.today and rng.random() < 0.5:
            due = grievance_rules.extend(due, rng.randint(7, 28), False, self.book)
            extended, extension_reason = True, "Qoʻshimcha maʼlumot soʻraldi"
        answered = closed = None
        answer = None
        if state in (grievance_rules.ANSWERED, grievance_rules.CLOSED):
            answered = min(self.today, received + dt.timedelta(days=rng.randint(3, 14)))
            answer = GRIEVANCE_ANSWERS[language]
            if state == grievance_rules.CLOSED:
                closed = min(self.today, answered + dt.timedelta(days=rng.randint(0, 10)))
        assigned = None if state == grievance_rules.RECEIVED else f"inson-{region}"
        created = self._at(received)
        updated = self._at(closed or answered or received)
        rows["grievances"].append((
            self._id("grievances"), self._grievance_number(), hid, phone, None, region, category,
            rng.choice(("ussd", "sms", "telegram", "hotline")), language, GRIEVANCE_TEXTS[category][language], state,
            received, due, needs_check, extended, extension_reason, assigned, 0, answer, answered, closed, None,
            None, created, max(created, updated), 1,
        ))


def _years_before(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
