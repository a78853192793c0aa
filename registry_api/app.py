"""The registry API mounted on ``spsr serve``'s app: routes, the error middleware, access logs, metrics."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from core.errors import DomainError
from core.i18n import SUPPORTED, normalise_locale, use_locale
from registry_api import admin, audit, broadcasts, casework, exchange, payments, registry
from registry_api.clients import KeyCache
from registry_api.http import API_PREFIX, CLIENT_NAME, KEY_CACHE, RATE_LIMITER, Op, RateLimiter, wrap
from registry_api.metrics import METRICS, Metrics, metrics_view
from registry_api.openapi import document, reference_page
from registry_api.problems import ApiError, busy, from_domain, from_http, is_busy, problem

access_log = logging.getLogger("spsr.api.access")
log = logging.getLogger("registry_api")

OPS: tuple[Op, ...] = (registry.OPS + casework.OPS + payments.OPS + exchange.OPS + admin.OPS
                       + broadcasts.OPS)
OPENAPI = web.AppKey("api_openapi", dict)
_PINFL_LIKE = re.compile(r"\d{14}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def accept_language(header: str | None) -> str:
    """The first of our languages the caller accepts, by q-value; Uzbek when none."""
    best: tuple[float, str] | None = None
    for i, part in enumerate((header or "").split(",")):
        # RFC 9110 §12.4.2 allows whitespace around ";" and any case in "q": .NET sends "ru; q=0.8".
        tag, _, params = (p.strip() for p in part.partition(";"))
        name, _, q = (p.strip() for p in params.partition("="))
        try:
            weight = float(q) if name.lower() == "q" else 1.0
        except ValueError:
            continue
        code = normalise_locale(tag)
        if tag and weight > 0 and code in SUPPORTED and tag.split("-")[0].split("_")[0].lower() in (
                "uz", "uzb", "oz", "kaa", "ru", "rus") and (best is None or weight > best[0]):
            best = (weight - i * 1e-6, code)
    return best[1] if best else "uz"


def mask_path(path: str) -> str:
    return _PINFL_LIKE.sub(lambda m: m.group()[:6] + "*****" + m.group()[11:], path)


# The USSD and SMS gateways authenticate with ``?key=SPSR_USSD_KEY`` (their callbacks carry no headers).
_SECRET_QUERY = re.compile(r"([?&]key=)[^&\s]*", re.IGNORECASE)


class MaskedAccessLogger(AbstractAccessLogger):
    """aiohttp's access log line (``%a "%r" %s %b %Tf``), with the request target decoded, PINFLs
    masked and a gateway's key hidden: the stock logger writes the target as sent, PINFL and all (or
    percent-encoded past a mask)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        target = _SECRET_QUERY.sub(r"\1***", mask_path(unquote(request.raw_path, errors="replace")))
        self.logger.info('%s "%s %s HTTP/%d.%d" %d %s %f', request.remote, request.method, target,
                         request.version.major, request.version.minor, response.status,
                         response.body_length, time)


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Metrics for every route; a JSON access-log line (PINFL masked) for every API call."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        seconds = time.perf_counter() - started
        route = _route(request)
        request.app[METRICS].observe(request.method, route, status, seconds)
        if request.path.startswith(API_PREFIX + "/") and access_log.isEnabledFor(logging.INFO):
            access_log.info(json.dumps({
                "method": request.method, "route": route, "path": mask_path(request.path), "status": status,
                "ms": round(seconds * 1000, 2), "client": request.get(CLIENT_NAME)}))


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place an API error becomes an answer: problem+json in the caller's language."""
    if not request.path.startswith(API_PREFIX + "/"):
        return await handler(request)
    with use_locale(accept_language(request.headers.get("Accept-Language"))):
        try:
            return await handler(request)
        except DomainError as exc:
            return from_domain(exc, request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return from_http(exc, request)
        except Exception as exc:
            if is_busy(exc):
                log.warning("database busy on %s %s: answered 503", request.method, mask_path(request.path))
                return busy(request)
            log.exception("unexpected error on %s %s", request.method, mask_path(request.path))
            return problem(500, "server.error", "api", request.path)


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document."""
    return web.json_response(request.app[OPENAPI])


async def docs(request: web.Request) -> web.Response:
    """The human-readable reference, from the same document."""
    return web.Response(text=reference_page(request.app[OPENAPI]), content_type="text/html")


def routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get(API_PREFIX + "/openapi.json", openapi_json)
    app.router.add_get(API_PREFIX + "/docs", docs)
    for op in OPS:
        if op.method == "GET":  # with HEAD, which RFC 9110 asks of every resource that answers GET
            app.router.add_get(API_PREFIX + op.path, wrap(op))
        else:
            app.router.add_route(op.method, API_PREFIX + op.path, wrap(op))


def mount(app: web.Application) -> None:
    """Mount the registry API on ``spsr serve``'s app."""
    app[METRICS] = Metrics()
    app[RATE_LIMITER] = RateLimiter()
    app[KEY_CACHE] = KeyCache()
    audit.mount(app)
    app[OPENAPI] = document(OPS)
    app.middlewares.append(observe)
    app.middlewares.append(problems)
    routes(app)


__all__ = ["ApiError", "OPS", "mount"]
