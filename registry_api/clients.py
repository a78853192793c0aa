"""API clients and their keys: created, listed, revoked, given a new key; a key is shown once and
stored hashed.

A client's name is its identity: the audit log names it, and an agency client's name is the
agency whose records it sends (``registry_api.exchange``), so it must be one of the catalogue's.
The name is never freed: a revoked or expired client is given a new key by adding it again
(its history stays one client's), and an active one by rotating its key.

A key reads ``spsr_<prefix>_<secret>``: the prefix finds the row, the secret (32 random bytes) is
compared by its SHA-256 in constant time. A fast hash is enough because the secret is random and
long: there is nothing to guess, unlike a password.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from core.clock import in_tashkent
from core.errors import Conflict, InvalidInput, NotFound
from core.exchange import load_catalogue
from core.storage.schema import ApiClient
from core.storage.uow import Actor, Core, UnitOfWork

ROLES = ("agency", "hotline", "operator", "auditor", "admin")
CLIENT_ERROR_CODES = ("client.unknown_role", "client.name", "client.exists", "client.not_found", "client.expires",
                      "client.rate", "client.not_agency", "client.inactive", "client.keep_old")
KEY_PREFIX = "spsr_"
# The audit log names a client by its name, in a 40-character entity id.
MAX_NAME = 40
# A key's lifetime and rate limit: the API's schema and the command line both hold to these.
MAX_EXPIRES_DAYS = 3650
MAX_RATE_PER_MINUTE = 100_000
# How long a rotation may keep the replaced key working: long enough for an agency to roll the
# new key out to every system, short enough that an old key does not linger (30 days).
MAX_KEEP_OLD_HOURS = 720


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
    # Until when the key a rotation replaced is still taken (None: it stopped at the rotation).
    previous_key_until: dt.datetime | None = None

    def active(self, now: dt.datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or _aware(self.expires_at) > now


_aware = in_tashkent


def _view(c: ApiClient) -> ClientView:
    return ClientView(c.id, c.name, c.role, c.key_prefix, _aware(c.created_at),
                      _aware(c.expires_at) if c.expires_at else None,
                      _aware(c.revoked_at) if c.revoked_at else None, c.rate_per_minute,
                      _aware(c.previous_key_until) if c.previous_key_prefix and c.previous_key_until else None)


def _by_previous_key(view: ClientView) -> ClientView:
    """The client as its replaced key holds it: that key stops at ``previous_key_until``, or at the
    client's own expiry if that comes first (checked on every cache hit, as an expiry is)."""
    until = view.previous_key_until
    assert until is not None
    if view.expires_at is not None and view.expires_at < until:
        until = view.expires_at
    return dataclasses.replace(view, expires_at=until)


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
    """Create a client, or give a revoked or expired one a new key (with this role, lifetime and
    rate); returns it with its key, which is never shown again. An active client keeps its key
    (``client.exists``): :func:`rotate_key` replaces it."""
    name = name.strip()
    if role not in ROLES:
        raise InvalidInput("client.unknown_role", role=role)
    if not name or len(name) > MAX_NAME or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise InvalidInput("client.name", name=name[:80])
    if role == "agency" and name not in load_catalogue().agencies:
        # The API takes an agency client's name for the agency of its records: any other name
        # could send nothing, or another agency's records under a look-alike name.
        raise InvalidInput("client.not_agency", name=name, agencies=sorted(load_catalogue().agencies))
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRES_DAYS:
        raise InvalidInput("client.expires", days=expires_days)
    if not 1 <= rate_per_minute <= MAX_RATE_PER_MINUTE:
        raise InvalidInput("client.rate", rate_per_minute=rate_per_minute)
    s = uow.session
    now = uow.now()
    expires_at = now + dt.timedelta(days=expires_days) if expires_days else None
    client = await s.scalar(select(ApiClient).where(ApiClient.name == name).with_for_update())
    if client is not None:
        if _view(client).active(now):
            raise Conflict("client.exists", name=name)
        client.role, client.expires_at, client.revoked_at = role, expires_at, None
        client.rate_per_minute = rate_per_minute
        key = _new_key(client)
        _forget_previous_key(client)
        uow.audit(actor, "client.reissued", "api_client", name, role=role, expires_days=expires_days)
        return _view(client), key
    client = ApiClient(name=name, role=role, created_at=now, expires_at=expires_at, revoked_at=None,
                       rate_per_minute=rate_per_minute)
    key = _new_key(client)
    s.add(client)
    await s.flush()
    uow.audit(actor, "client.added", "api_client", name, role=role, expires_days=expires_days)
    return _view(client), key


async def rotate_key(uow: UnitOfWork, name: str, actor: Actor, *, expires_days: int | None = None,
                     keep_old_hours: int = 0) -> tuple[ClientView, str]:
    """Give an active client a new key. The old one stops at once (in other server processes
    within the key cache's seconds), as a leaked key must; with ``keep_old_hours`` it is still
    taken for that long, so the agency can move every system to the new key without an outage
    (a key replaced by an earlier rotation stops now: two keys at most). Its role and rate stay;
    its expiry too, unless ``expires_days`` sets a new one. A revoked or expired client is added
    again instead."""
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRES_DAYS:
        raise InvalidInput("client.expires", days=expires_days)
    if not 0 <= keep_old_hours <= MAX_KEEP_OLD_HOURS:
        raise InvalidInput("client.keep_old", hours=keep_old_hours, limit=MAX_KEEP_OLD_HOURS)
    client = await uow.session.scalar(select(ApiClient).where(ApiClient.name == name).with_for_update())
    if client is None:
        raise NotFound("client.not_found", name=name)
    now = uow.now()
    if not _view(client).active(now):
        raise Conflict("client.inactive", name=name)
    if expires_days is not None:
        client.expires_at = now + dt.timedelta(days=expires_days)
    old_prefix, old_hash = client.key_prefix, client.key_hash
    key = _new_key(client)
    _forget_previous_key(client)
    if keep_old_hours:
        client.previous_key_prefix, client.previous_key_hash = old_prefix, old_hash
        client.previous_key_until = now + dt.timedelta(hours=keep_old_hours)
    uow.audit(actor, "client.rotated", "api_client", name, expires_days=expires_days, keep_old_hours=keep_old_hours)
    return _view(client), key


def _forget_previous_key(client: ApiClient) -> None:
    client.previous_key_prefix = client.previous_key_hash = client.previous_key_until = None


def _new_key(client: ApiClient) -> str:
    """A fresh key for ``client``: the old one (if any) no longer matches."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    client.key_prefix, client.key_hash = prefix, hash_secret(secret)
    return f"{KEY_PREFIX}{prefix}_{secret}"


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
    client = await uow.session.scalar(select(ApiClient).where(
        (ApiClient.key_prefix == prefix) | (ApiClient.previous_key_prefix == prefix)))
    if client is None:
        return None
    view = _view(client)
    if client.key_prefix != prefix:  # the key a rotation replaced, while it is kept
        if client.previous_key_hash is None or view.previous_key_until is None:
            return None
        if not hmac.compare_digest(client.previous_key_hash, hash_secret(secret)):
            return None
        view = _by_previous_key(view)
    elif not hmac.compare_digest(client.key_hash, hash_secret(secret)):
        return None
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
