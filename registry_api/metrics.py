"""Prometheus metrics in the text exposition format, written by hand (prometheus_client is not
installed): requests by route and status, latency histograms, outbox depth, live USSD sessions."""

from __future__ import annotations

from collections import defaultdict

from aiohttp import web
from sqlalchemy import func, select

from core.storage.schema import ChannelSession, OutboxMessage
from spsr.server import CORE

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
        self.sums: dict[tuple[str, str], float] = defaultdict(float)
        self.counts: dict[tuple[str, str], int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[(method, route, status)] += 1
        key = (method, route)
        counts = self.buckets[key]
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                counts[i] += 1
        self.sums[key] += seconds
        self.counts[key] += 1

    def render(self, outbox_depth: dict[str, int], ussd_sessions: int) -> str:
        lines = ["# HELP spsr_http_requests_total HTTP requests by method, route and status.",
                 "# TYPE spsr_http_requests_total counter"]
        for (method, route, status), n in sorted(self.requests.items()):
            lines.append(f'spsr_http_requests_total{{method="{method}",route="{_esc(route)}",status="{status}"}} {n}')
        lines += ["# HELP spsr_http_request_duration_seconds Request latency by method and route.",
                  "# TYPE spsr_http_request_duration_seconds histogram"]
        for (method, route), counts in sorted(self.buckets.items()):
            labels = f'method="{method}",route="{_esc(route)}"'
            for bound, n in zip(BUCKETS, counts, strict=True):
                lines.append(f'spsr_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {n}')
            lines.append(f'spsr_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {self.counts[(method, route)]}')
            lines.append(f"spsr_http_request_duration_seconds_sum{{{labels}}} {self.sums[(method, route)]:.6f}")
            lines.append(f"spsr_http_request_duration_seconds_count{{{labels}}} {self.counts[(method, route)]}")
        lines += ["# HELP spsr_outbox_messages Outbox messages by state.", "# TYPE spsr_outbox_messages gauge"]
        for state, n in sorted(outbox_depth.items()):
            lines.append(f'spsr_outbox_messages{{state="{_esc(state)}"}} {n}')
        lines += ["# HELP spsr_ussd_sessions_active USSD sessions not ended.", "# TYPE spsr_ussd_sessions_active gauge",
                  f"spsr_ussd_sessions_active {ussd_sessions}"]
        return "\n".join(lines) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


METRICS = web.AppKey("api_metrics", Metrics)


async def metrics_view(request: web.Request) -> web.Response:
    """Prometheus scrape endpoint."""
    core = request.app[CORE]
    async with core.engine.connect() as conn:
        depth = {s: int(n) for s, n in await conn.execute(
            select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state))}
        depth.setdefault("pending", 0)
        ussd = int(await conn.scalar(select(func.count()).select_from(ChannelSession).where(
            ChannelSession.key.like("ussd:%"), ChannelSession.ended.is_(False))) or 0)
    text = request.app[METRICS].render(depth, ussd)
    return web.Response(body=text.encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
