"""API clients and their keys: created, listed, revoked; a key is shown once and stored hashed.

A key reads ``spsr_<prefix>_<secret>``: the prefix finds the row, the secret (32 random bytes) is
compared by its SHA-256 in constant time. A fast hash is enough because the secret is random and
long: there is nothing to guess, unlike a password.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from core.clock import TASHKENT
from core.errors import Conflict, InvalidInput, NotFound
from core.storage.schema import ApiClient
from core.storage.uow import Actor, Core, UnitOfWork

ROLES = ("agency", "hotline", "operator", "auditor", "admin")
CLIENT_ERROR_CODES = ("client.unknown_role", "client.name", "client.exists", "client.not_found", "client.expires",
                      "client.rate")
KEY_PREFIX = "spsr_"
# The audit log names a client by its name, in a 40-character entity id.
MAX_NAME = 40
# A key's lifetime and rate limit: the API's schema and the command line both hold to these.
MAX_EXPIRES_DAYS = 3650
MAX_RATE_PER_MINUTE = 100_000


@dataclass(frozen=True)
class ClientView:
    id: int
    name: str
    role: str
    key_prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    rate_per_minute: int

    def active(self, now: dt.datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or _aware(self.expires_at) > now


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; the core's clock writes Tashkent time.
    return value if value.tzinfo is not None else value.replace(tzinfo=TASHKENT)


def _view(c: ApiClient) -> ClientView:
    return ClientView(c.id, c.name, c.role, c.key_prefix, _aware(c.created_at),
                      _aware(c.expires_at) if c.expires_at else None,
                      _aware(c.revoked_at) if c.revoked_at else None, c.rate_per_minute)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(key: str) -> tuple[str, str] | None:
    """``spsr_<prefix>_<secret>`` → (prefix, secret), or None when it is not shaped like a key."""
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = key[len(KEY_PREFIX):].partition("_")
    if not sep or len(prefix) != 12 or not secret or len(secret) > 100:
        return None
    return prefix, secret


async def add_client(uow: UnitOfWork, name: str, role: str, actor: Actor, *,
                     expires_days: int | None = None, rate_per_minute: int = 600) -> tuple[ClientView, str]:
    """Create a client; returns it with its key, which is never shown again."""
    name = name.strip()
    if role not in ROLES:
        raise InvalidInput("client.unknown_role", role=role)
    if not name or len(name) > MAX_NAME or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise InvalidInput("client.name", name=name[:80])
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRES_DAYS:
        raise InvalidInput("client.expires", days=expires_days)
    if not 1 <= rate_per_minute <= MAX_RATE_PER_MINUTE:
        raise InvalidInput("client.rate", rate_per_minute=rate_per_minute)
    s = uow.session
    if await s.scalar(select(ApiClient.id).where(ApiClient.name == name)):
        raise Conflict("client.exists", name=name)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    now = uow.now()
    client = ApiClient(name=name, role=role, key_prefix=prefix, key_hash=hash_secret(secret), created_at=now,
                       expires_at=now + dt.timedelta(days=expires_days) if expires_days else None,
                       revoked_at=None, rate_per_minute=rate_per_minute)
    s.add(client)
    await s.flush()
    uow.audit(actor, "client.added", "api_client", name, role=role, expires_days=expires_days)
    return _view(client), f"{KEY_PREFIX}{prefix}_{secret}"


async def list_clients(uow: UnitOfWork, *, after_id: int = 0, limit: int = 1000) -> list[ClientView]:
    rows = await uow.session.scalars(
        select(ApiClient).where(ApiClient.id > after_id).order_by(ApiClient.id).limit(limit))
    return [_view(c) for c in rows]


async def revoke_client(uow: UnitOfWork, name: str, actor: Actor) -> ClientView:
    client = await uow.session.scalar(select(ApiClient).where(ApiClient.name == name))
    if client is None:
        raise NotFound("client.not_found", name=name)
    if client.revoked_at is None:
        client.revoked_at = uow.now()
        uow.audit(actor, "client.revoked", "api_client", name)
    return _view(client)


async def authenticate(uow: UnitOfWork, key: str) -> ClientView | None:
    """The active client holding ``key``, or None (unknown, wrong secret, revoked or expired)."""
    parts = split_key(key)
    if parts is None:
        return None
    prefix, secret = parts
    client = await uow.session.scalar(select(ApiClient).where(ApiClient.key_prefix == prefix))
    if client is None or not hmac.compare_digest(client.key_hash, hash_secret(secret)):
        return None
    view = _view(client)
    return view if view.active(uow.now()) else None


class KeyCache:
    """Recently seen keys and the client each belongs to (or None for a refused key), for ``ttl``
    seconds, so a request is authenticated without a database round trip.

    Entries are keyed by the SHA-256 of the whole key: the cache never holds a key in clear. A key
    revoked through this process's API is forgotten at once (:meth:`forget_client`); one revoked
    elsewhere (``spsr clients revoke``, another server process) stops working within ``ttl`` seconds.
    Expiry is checked on every hit, so a key stops at its ``expires_at`` to the second.
    """

    def __init__(self, ttl: float = 5.0, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, ClientView | None]] = OrderedDict()

    @staticmethod
    def digest(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def get(self, digest: str) -> tuple[bool, ClientView | None]:
        """(found, client): ``found`` is False when the database must be asked."""
        entry = self._entries.get(digest)
        if entry is None:
            return False, None
        if self.clock() >= entry[0]:
            del self._entries[digest]
            return False, None
        return True, entry[1]

    def put(self, digest: str, client: ClientView | None) -> None:
        self._entries[digest] = (self.clock() + self.ttl, client)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)  # the oldest: a flood of made-up keys cannot grow memory

    def forget_client(self, client_id: int) -> None:
        for digest in [d for d, (_, c) in self._entries.items() if c is not None and c.id == client_id]:
            del self._entries[digest]

    def clear(self) -> None:
        self._entries.clear()


async def authenticate_cached(core: Core, cache: KeyCache, key: str) -> ClientView | None:
    """:func:`authenticate` through ``cache``: the database is read at most once per key per ``ttl``."""
    digest = cache.digest(key)
    found, client = cache.get(digest)
    if not found:
        async with core.uow(read_only=True) as uow:
            client = await authenticate(uow, key)
        # A refusal is cached too, without its reason: an unknown key stays unknown, and a revoked
        # or expired one is not coming back within a few seconds.
        cache.put(digest, client)
    if client is not None and not client.active(core.clock.now()):
        return None
    return client
