"""In-process metrics in Prometheus' text format, served at /metrics.

Kept deliberately small: request counts by route, method and status, and request latency by route and method.
Nothing else is counted yet (gateway outcomes and webhook events are recorded in Moqui's own tables, not here).
No client library: the exposition format is a few lines of text.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from aiohttp.typedefs import Middleware

# Upper bounds in seconds; chosen around the service's own budget (a few ms) and Stripe's (hundreds of ms).
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

Labels = tuple[tuple[str, str], ...]


def _labels(labels: Mapping[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _format_labels(labels: Labels) -> str:
    if not labels:
        return ""
    escaped = (f'{key}="{_escape(value)}"' for key, value in labels)
    return "{" + ",".join(escaped) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Counters and one request-latency histogram, rendered in Prometheus' text exposition format."""

    def __init__(self) -> None:
        self._counters: dict[str, dict[Labels, int]] = defaultdict(lambda: defaultdict(int))
        self._histogram_counts: dict[Labels, list[int]] = {}
        self._histogram_sums: dict[Labels, float] = defaultdict(float)

    def increment(self, name: str, labels: Mapping[str, str] | None = None, amount: int = 1) -> None:
        """Add to a counter (created on first use)."""
        self._counters[name][_labels(labels or {})] += amount

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Record one HTTP request's outcome and duration."""
        labels = _labels({"route": route, "method": method, "status": str(status)})
        self.increment("moqui_stripe_http_requests_total", dict(labels))
        latency_labels = _labels({"route": route, "method": method})
        counts = self._histogram_counts.setdefault(latency_labels, [0] * (len(_BUCKETS) + 1))
        for index, bound in enumerate(_BUCKETS):
            if seconds <= bound:
                counts[index] += 1
        counts[-1] += 1
        self._histogram_sums[latency_labels] += seconds

    def render(self) -> str:
        """The whole registry in Prometheus' text format."""
        lines: list[str] = []
        for name in sorted(self._counters):
            lines.append(f"# TYPE {name} counter")
            for labels, value in sorted(self._counters[name].items()):
                lines.append(f"{name}{_format_labels(labels)} {value}")
        histogram = "moqui_stripe_http_request_duration_seconds"
        if self._histogram_counts:
            lines.append(f"# TYPE {histogram} histogram")
        for labels, counts in sorted(self._histogram_counts.items()):
            for index, bound in enumerate(_BUCKETS):
                lines.append(f"{histogram}_bucket{_format_labels((*labels, ('le', repr(bound))))} {counts[index]}")
            lines.append(f"{histogram}_bucket{_format_labels((*labels, ('le', '+Inf')))} {counts[-1]}")
            lines.append(f"{histogram}_sum{_format_labels(labels)} {self._histogram_sums[labels]:.6f}")
            lines.append(f"{histogram}_count{_format_labels(labels)} {counts[-1]}")
        return "\n".join(lines) + "\n"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def metrics_middleware(metrics: Metrics) -> Middleware:
    """An aiohttp middleware timing each request by its route template (raw paths would explode labels)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as error:
            status = error.status
            raise
        finally:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "unmatched"
            metrics.observe_request(route, request.method, status, time.perf_counter() - started)

    return middleware
