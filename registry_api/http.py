"""The API's request pipeline: an operation table, and one wrapper that authenticates, limits,
checks the role, parses and validates the body and query, honours Idempotency-Key and If-Match,
then hands a :class:`Call` to a handler of about fifteen lines.

One request, one unit of work: the wrapper opens it, the handler works in ``call.uow`` and never
commits, the wrapper commits a state change together with its idempotency record. API keys are
checked through an in-process :class:`~registry_api.clients.KeyCache`, so a request reads no key
row; reads of a person's data go to the audit log by group commit (``registry_api.audit``).
GETs answer 304 when If-None-Match names the current ETag."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from core.errors import ExpectedVersion
from core.storage.locks import exclusive
from core.storage.schema import AuditEntry, IdempotencyRecord
from core.storage.uow import Actor, Core, UnitOfWork, audit_row
from core.text import clean_text
from registry_api.audit import READ_AUDIT
from registry_api.clients import ClientView, KeyCache, authenticate_cached
from registry_api.problems import ApiError
from registry_api.schema import Schema, validate
from spsr.server import CORE

API_PREFIX = "/v1"
MAX_BODY = 1024 * 1024  # any body but an exchange batch
MAX_LIMIT = 200
DEFAULT_LIMIT = 50

# What each role may do. ``admin`` manages clients and may also read everything; ``auditor``
# reads everything, the audit log included, and writes nothing.
PERMISSIONS: dict[str, frozenset[str]] = {
    "agency": frozenset({"registry.read", "exchange.write", "territory.read", "applications.read",
                         "payments.read"}),
    "hotline": frozenset({"registry.read", "grievances.read", "grievances.write", "applications.read",
                          "applications.write", "payments.read", "territory.read", "access_log.read"}),
    "operator": frozenset({"statistics.read", "applications.read", "applications.decide", "payments.read",
                           "grievances.read", "territory.read", "broadcasts.read", "broadcasts.write"}),
    "auditor": frozenset({"registry.read", "grievances.read", "applications.read", "payments.read",
                          "territory.read", "statistics.read", "audit.read", "access_log.read",
                          "broadcasts.read"}),
    "admin": frozenset({"clients.manage", "registry.read", "grievances.read", "applications.read",
                        "payments.read", "territory.read", "statistics.read", "audit.read", "access_log.read",
                        "broadcasts.read"}),
}


@dataclass(frozen=True)
class Param:
    name: str
    schema: Schema
    required: bool = False
    description: str = ""


@dataclass
class Call:
    """One authenticated, validated call, as a handler sees it."""

    request: web.Request
    core: Core
    client: ClientView
    body: Any
    query: dict[str, Any]
    expected_version: ExpectedVersion
    idempotency_key: str | None
    uow: UnitOfWork  # the request's one transaction; the pipeline commits it, a handler never does
    reads: list[dict[str, Any]] = field(default_factory=list)  # audit rows of reads, see audit_read

    @property
    def actor(self) -> Actor:
        return Actor("agency" if self.client.role == "agency" else "staff", self.client.name, "api")

    def audit_read(self, action: str, entity: str, entity_id: object, **details: Any) -> None:
        """Put a read on record: the answer leaves only once the entry is committed."""
        self.reads.append(audit_row(self.uow.now(), self.actor, action, entity, entity_id, **details))

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    def scoped_key(self) -> str | None:
        """The Idempotency-Key as the core stores it: per client, so two clients never collide."""
        return None if self.idempotency_key is None else f"api:{self.client.id}:{self.idempotency_key}"[:80]


@dataclass
class Result:
    body: Any
    status: int = 200
    version: int | None = None  # the ETag of a versioned resource
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Awaitable[Result]]


@dataclass(frozen=True)
class Op:
    method: str
    path: str  # under /v1
    handler: Handler
    permission: str
    summary: str
    tag: str
    response: Schema
    status: int = 200
    body: Schema | None = None
    query: tuple[Param, ...] = ()
    path_params: tuple[Param, ...] = ()
    if_match: bool = False
    paginated: bool = False
    description: str = ""
    # The core service runs its own transactions (exchange ingest commits in chunks): the request's
    # unit of work then holds only the idempotency record, and must not hold SQLite's write lock.
    own_transactions: bool = False
    # Top-level fields of the answer that are secrets shown once (a new API key): an idempotency
    # record keeps them as null, so a replay answers without them rather than storing them in clear.
    secret_fields: tuple[str, ...] = ()
    max_body: int = MAX_BODY  # the largest body taken, in bytes
    # A request without a body (no Content-Type, nothing sent) is taken as ``{}``.
    body_optional: bool = False

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.strip("_")

    def all_query(self) -> tuple[Param, ...]:
        if not self.paginated:
            return self.query
        return self.query + (
            Param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                  description="page size"),
            Param("cursor", {"type": "string", "maxLength": 200}, description="opaque cursor from `next`"),
        )


# --- rate limits ---------------------------------------------------------------------------------


class RateLimiter:
    """A token bucket per client, in this process's memory: ``rate_per_minute`` tokens, refilled evenly."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}

    def take(self, client_id: int, per_minute: int) -> float:
        """0 when the call may go ahead, else the seconds until a token is free."""
        now = self._clock()
        capacity = float(max(per_minute, 1))
        tokens, last = self._buckets.get(client_id, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * capacity / 60)
        if tokens >= 1:
            self._buckets[client_id] = (tokens - 1, now)
            return 0.0
        self._buckets[client_id] = (tokens, now)
        return (1 - tokens) * 60 / capacity


RATE_LIMITER = web.AppKey("api_rate_limiter", RateLimiter)
KEY_CACHE = web.AppKey("api_key_cache", KeyCache)
CLIENT_NAME = web.RequestKey("api_client", str)


# --- cursors -------------------------------------------------------------------------------------


def encode_cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: type[int] | type[str] = int) -> Any:
    """The key a cursor carries, of the ``kind`` the list orders by; anything else is refused."""
    if cursor is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ApiError(422, "cursor.invalid") from None
    if not isinstance(value, kind) or isinstance(value, bool) or (isinstance(value, int) and abs(value) > 2**62):
        raise ApiError(422, "cursor.invalid")
    return value


def page(call: Call, rows: list[Any], key: Callable[[Any], Any], render: Callable[[Any], Any]) -> Result:
    """One page of ``rows`` (fetched with ``limit + 1``), with the link to the next one."""
    limit = call.query["limit"]
    more = len(rows) > limit
    rows = rows[:limit]
    next_url = None
    if more:
        next_url = str(call.request.rel_url.update_query(cursor=encode_cursor(key(rows[-1]))))
    return Result({"items": [render(r) for r in rows], "next": next_url})


# --- the pipeline --------------------------------------------------------------------------------


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "auth.missing_key", headers={"WWW-Authenticate": 'Bearer realm="spsr"'})
    return key.strip()


def _coerce(param: Param, raw: str) -> Any:
    if clean_text(raw) != raw:  # a NUL or a lone surrogate: no database compares text with it (PostgreSQL refuses NUL)
        raise ApiError(422, "query.control_character", parameter=param.name)
    kind = param.schema.get("type")
    if kind == "integer":
        # Not int(raw) alone: it also reads "٥", "1_0", "+5" and " 5", none of them a JSON integer.
        try:
            if re.fullmatch(r"-?[0-9]+", raw):
                return int(raw)
        except ValueError:  # more digits than Python converts
            pass
        raise ApiError(422, "query.type", parameter=param.name, expected="integer")
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise ApiError(422, "query.type", parameter=param.name, expected="boolean")
        return raw == "true"
    return raw


def parse_query(op: Op, request: web.Request) -> dict[str, Any]:
    params = {p.name: p for p in op.all_query()}
    out: dict[str, Any] = {}
    for name in request.query:
        if name not in params:
            raise ApiError(422, "query.unknown", parameter=name)
        if len(request.query.getall(name)) > 1:
            raise ApiError(422, "query.repeated", parameter=name)
    for name, param in params.items():
        raw = request.query.get(name)
        if raw is None:
            if param.required:
                raise ApiError(422, "query.required", parameter=name)
            out[name] = param.schema.get("default")
            continue
        value = _coerce(param, raw)
        try:
            validate(value, param.schema)
        except Exception as exc:  # a schema refusal names the rule broken
            code = getattr(exc, "code", "body.invalid").replace("body.", "query.")
            raise ApiError(422, code, parameter=name) from None
        out[name] = value
    return out


async def read_json(request: web.Request, schema: Schema, limit: int = MAX_BODY) -> Any:
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "request.too_large", limit=limit)
    if request.content_type != "application/json":
        raise ApiError(415, "request.media_type", expected="application/json")
    # ``read(n)`` answers with what has arrived so far, not n bytes: read on to the end (or past the limit).
    raw = bytearray()
    while len(raw) <= limit and (chunk := await request.content.read(limit + 1 - len(raw))):
        raw += chunk
    if len(raw) > limit:
        raise ApiError(413, "request.too_large", limit=limit)
    try:
        body = json.loads(raw, object_pairs_hook=_unique_keys, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested past Python's depth: not a body we take
        raise ApiError(400, "request.malformed_json") from None
    validate(body, schema)
    return body


def _not_json(name: str) -> Any:
    """NaN and Infinity: Python reads them, but they are not JSON (RFC 8259)."""
    raise ValueError(name)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose names are unique. With a name twice, json keeps the last while other parsers
    (a gateway, an auditor's tool) may keep the first: the body would mean different things."""
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise ApiError(400, "request.duplicate_key", key=name[:80])
        seen.add(name)
    return dict(pairs)


def parse_if_match(request: web.Request) -> ExpectedVersion:
    """The versions If-Match allows: ``*`` (None), one strong tag, or a list of them (any may match)."""
    header = request.headers.get("If-Match")
    if header is None:
        raise ApiError(428, "precondition.required")
    if header.strip() == "*":
        return None
    versions: set[int] = set()
    for tag in (t.strip() for t in header.split(",")):
        # No removeprefix("W/"): If-Match compares strongly (RFC 9110 §13.1.1), so a weak tag never matches.
        digits = tag[1:-1]
        if len(tag) >= 3 and tag.startswith('"') and tag.endswith('"') and digits.isascii() and digits.isdigit():
            versions.add(int(digits))
        elif not tag.startswith("W/"):
            versions.clear()  # not a list of entity tags at all
            break
    if not versions:
        # Echoed as text that encodes: a header's undecodable bytes arrive as lone surrogates.
        raise ApiError(412, "precondition.failed", if_match=header[:40].encode("utf-8", "replace").decode())
    return versions.pop() if len(versions) == 1 else frozenset(versions)


def etag(version: int) -> str:
    return f'"{version}"'


def _json_response(result: Result, request: web.Request | None = None) -> web.Response:
    headers = dict(result.headers)
    if result.version is not None:
        headers["ETag"] = etag(result.version)
    text = json.dumps(result.body, ensure_ascii=False, default=str)
    if result.version is None and result.status == 200:
        headers["ETag"] = 'W/"' + hashlib.sha256(text.encode()).hexdigest()[:27] + '"'
    if (request is not None and request.method in ("GET", "HEAD") and result.status == 200
            and not_modified(request.headers.get("If-None-Match"), headers.get("ETag"))):
        return web.Response(status=304, headers=headers)
    return web.Response(status=result.status, text=text, content_type="application/json", headers=headers)


def not_modified(if_none_match: str | None, current: str | None) -> bool:
    """RFC 9110 §13.1.2: the weak comparison of If-None-Match's tags (or ``*``) with the current ETag."""
    if not if_none_match or not current:
        return False
    if if_none_match.strip() == "*":
        return True
    opaque = current.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in if_none_match.split(","))


async def _authorise(op: Op, request: web.Request) -> ClientView:
    # A cached key costs no transaction; a key not seen for ``ttl`` seconds costs one short read.
    client = await authenticate_cached(request.app[CORE], request.app[KEY_CACHE], _bearer(request))
    if client is None:
        raise ApiError(401, "auth.invalid_key", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    request[CLIENT_NAME] = client.name
    wait = request.app[RATE_LIMITER].take(client.id, client.rate_per_minute)
    if wait:
        raise ApiError(429, "rate.limited", headers={"Retry-After": str(max(1, math.ceil(wait)))})
    if op.permission not in PERMISSIONS.get(client.role, frozenset()):
        raise ApiError(403, "auth.role", role=client.role, needs=op.permission)
    return client


def _request_digest(op: Op, request: web.Request, body: Any) -> str:
    return hashlib.sha256(
        json.dumps([op.method, request.path, body], sort_keys=True, default=str).encode()).hexdigest()


async def _stored(uow: UnitOfWork, client_id: int, key: str, digest: str) -> Result | None:
    """The answer remembered under ``key``, or None; a different request under the same key is refused."""
    stored = (await uow.session.execute(select(
        IdempotencyRecord.body_hash, IdempotencyRecord.status, IdempotencyRecord.response).where(
        IdempotencyRecord.client_id == client_id, IdempotencyRecord.key == key))).first()
    if stored is None:
        return None
    stored_hash, status, response = stored
    if stored_hash != digest:
        raise ApiError(422, "idempotency.key_reused")
    return Result(response.get("body"), status, response.get("version"), {"Idempotency-Replayed": "true"})


@contextlib.asynccontextmanager
async def _keyed(op: Op, core: Core, key: str | None) -> AsyncIterator[None]:
    """Calls with an Idempotency-Key to an operation that commits in its own transactions, one at a
    time: such a call cannot roll back when a concurrent one under the same key stores its answer
    first, so the second must find that answer before it changes anything. (Exchange batches are
    applied one at a time anyway.)"""
    if key is None or not op.own_transactions:
        yield
        return
    async with exclusive(core.engine, f"api.{op.operation_id}.idempotency"):
        yield


def wrap(op: Op) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler of one operation."""

    async def handle(request: web.Request) -> web.StreamResponse:
        client = await _authorise(op, request)
        core = request.app[CORE]
        query = parse_query(op, request)
        body: Any = None
        raw_key = request.headers.get("Idempotency-Key") if op.method == "POST" else None
        if raw_key is not None and not (1 <= len(raw_key) <= 120 and raw_key.isascii() and raw_key.isprintable()):
            raise ApiError(422, "idempotency.key_format")
        if op.body is not None and op.body_optional and not request.body_exists:
            body = {}
        elif op.body is not None:
            body = await read_json(request, op.body, op.max_body)
        expected = parse_if_match(request) if op.if_match else None
        digest = _request_digest(op, request, body) if raw_key is not None else ""
        reads_only = op.method == "GET"
        async with (_keyed(op, core, raw_key),
                    core.uow(write=not reads_only and not op.own_transactions, read_only=reads_only) as uow):
            if raw_key is not None and (replay := await _stored(uow, client.id, raw_key, digest)) is not None:
                return _json_response(replay)
            call = Call(request, core, client, body, query, expected, raw_key, uow)
            result = await op.handler(call)
            if not reads_only:
                # The use case's own changes first, so their errors stay theirs; then the record.
                await uow.session.flush()
                if raw_key is not None and result.status < 300:
                    uow.session.add(_record(uow, client.id, raw_key, op, request.path, digest, result))
                    try:
                        await uow.session.flush()
                    except IntegrityError:
                        # A concurrent request with the same key committed first: this one's changes
                        # roll back, and its answer is the one stored.
                        await uow.rollback()
                        replay = await _stored(uow, client.id, raw_key, digest)
                        if replay is None:
                            raise
                        return _json_response(replay)
                if call.reads:  # a state change puts its reads on record in its own transaction
                    await uow.session.execute(insert(AuditEntry), call.reads)
                await uow.commit()
        if reads_only and call.reads:
            await request.app[READ_AUDIT].write(call.reads)
        return _json_response(result, request)

    handle.__name__ = op.operation_id
    return handle


def _record(uow: UnitOfWork, client_id: int, key: str, op: Op, path: str, digest: str,
            result: Result) -> IdempotencyRecord:
    body = result.body
    if op.secret_fields and isinstance(body, dict):
        body = {k: None if k in op.secret_fields else v for k, v in body.items()}
    return IdempotencyRecord(
        client_id=client_id, key=key, method=op.method, path=path[:300], body_hash=digest, status=result.status,
        response=json.loads(json.dumps({"body": body, "version": result.version}, default=str)),
        created_at=uow.now())
