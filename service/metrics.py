"""Metrics an operator can alert on, served at /metrics in Prometheus' text format (prometheus_client).

What is counted, all prefixed `moqui_stripe_`:
- `http_requests_total{route,method,status}`, `http_request_duration_seconds{route,method}`: every request;
- `gateway_operations_total{operation,outcome}`: each journaled Stripe call of a gateway service by outcome
  (success, declined, error, in_doubt: no definitive answer, the next call replays the same key; pending: 3-D
  Secure or processing, Stripe has not decided);
- `stripe_requests_total{gateway,operation,status}`, `stripe_request_duration_seconds{gateway,operation}`: each HTTP
  request to Stripe (retries included) and its latency; `stripe_rate_limited_total{gateway}`: Stripe's 429s;
  `stripe_admission_wait_seconds_total{gateway}`: time spent waiting for an in-flight slot or a rate-limit token;
- gauges `stripe_in_flight{gateway}` and `database_pool_connections{state}` (size, in_use, max);
- `background_job_runs_total{job,result}` (ok, failed) and the gauge `background_leader` (1 on the one process
  among all sharing the database that runs the background jobs, service/background).

Several worker processes (`serve --workers N`): prometheus_client's multiprocess mode. The parent sets
`PROMETHEUS_MULTIPROC_DIR` before it starts the workers (`use_multiprocess_directory`), each worker writes its values
to its own files there, and whichever worker answers /metrics sums them all; gauges sum the live processes only
(the parent marks a worker's gauges dead when it exits). One process: plain in-memory values.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.registry import REGISTRY

from service.stripe_gateway.outcome import GatewayOutcome

__all__ = [
    "MULTIPROCESS_DIRECTORY_VARIABLE",
    "OperationOutcome",
    "count_background_job",
    "count_gateway_operation",
    "mark_worker_dead",
    "metrics_middleware",
    "observe_pool",
    "operation_outcome",
    "render",
    "set_background_leader",
    "use_multiprocess_directory",
]

MULTIPROCESS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_PREFIX = "moqui_stripe_"
# Upper bounds in seconds, around our own budget (a few ms) and Stripe's (hundreds of ms, seconds when slow).
_SERVICE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_STRIPE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    f"{_PREFIX}http_requests", "HTTP requests answered", ["route", "method", "status"], registry=None
)
HTTP_LATENCY = Histogram(
    f"{_PREFIX}http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["route", "method"],
    buckets=_SERVICE_BUCKETS,
    registry=None,
)
GATEWAY_OPERATIONS = Counter(
    f"{_PREFIX}gateway_operations",
    "Journaled Stripe calls of the gateway services",
    ["operation", "outcome"],
    registry=None,
)
RECONCILED_ATTEMPTS = Counter(
    f"{_PREFIX}reconciled_attempts",
    "In-doubt attempts the reconciler settled, by how they ended (done, not_done, unknown)",
    ["outcome"],
    registry=None,
)
STRIPE_REQUESTS = Counter(
    f"{_PREFIX}stripe_requests", "HTTP requests sent to Stripe", ["gateway", "operation", "status"], registry=None
)
STRIPE_LATENCY = Histogram(
    f"{_PREFIX}stripe_request_duration_seconds",
    "Stripe's answer time per request",
    ["gateway", "operation"],
    buckets=_STRIPE_BUCKETS,
    registry=None,
)
STRIPE_RATE_LIMITED = Counter(f"{_PREFIX}stripe_rate_limited", "429 answers from Stripe", ["gateway"], registry=None)
STRIPE_ADMISSION_WAIT = Counter(
    f"{_PREFIX}stripe_admission_wait_seconds",
    "Seconds spent waiting for an in-flight slot or a rate-limit token",
    ["gateway"],
    registry=None,
)
STRIPE_IN_FLIGHT = Gauge(
    f"{_PREFIX}stripe_in_flight", "Stripe requests in flight", ["gateway"], multiprocess_mode="livesum", registry=None
)
POOL_CONNECTIONS = Gauge(
    f"{_PREFIX}database_pool_connections",
    "Database pool connections (size: open, in_use: checked out, max: the configured bound)",
    ["state"],
    multiprocess_mode="livesum",
    registry=None,
)
BACKGROUND_JOB_RUNS = Counter(
    f"{_PREFIX}background_job_runs", "Runs of the background jobs on this instance", ["job", "result"], registry=None
)
BACKGROUND_LEADER = Gauge(
    f"{_PREFIX}background_leader",
    "1 while this instance holds the background jobs' leader lock",
    multiprocess_mode="livesum",
    registry=None,
)
_ALL = (
    HTTP_REQUESTS,
    HTTP_LATENCY,
    GATEWAY_OPERATIONS,
    RECONCILED_ATTEMPTS,
    STRIPE_REQUESTS,
    STRIPE_LATENCY,
    STRIPE_RATE_LIMITED,
    STRIPE_ADMISSION_WAIT,
    STRIPE_IN_FLIGHT,
    POOL_CONNECTIONS,
    BACKGROUND_JOB_RUNS,
    BACKGROUND_LEADER,
)


def _single_process_registry() -> CollectorRegistry:
    # The default registry too, for the process and platform collectors (CPU seconds, resident memory).
    registry = CollectorRegistry(auto_describe=True)
    for metric in _ALL:
        registry.register(metric)
    return registry


_REGISTRY = _single_process_registry()


def use_multiprocess_directory(directory: Path) -> None:
    """Make processes started from now on (the workers) keep their values in `directory`; call before starting them.

    prometheus_client chooses where values live when it is first imported, so this only affects new processes.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()  # values of an earlier run would be summed in
    os.environ[MULTIPROCESS_DIRECTORY_VARIABLE] = str(directory)


def mark_worker_dead(pid: int) -> None:
    """Drop a stopped worker's gauges (its counters stay in the sums, as Prometheus expects of counters)."""
    if os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]  # unannotated in prometheus_client


def render() -> bytes:
    """Every metric in Prometheus' text format, summed over all worker processes in multiprocess mode."""
    if os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # unannotated there
        return generate_latest(registry)
    return generate_latest(_REGISTRY) + generate_latest(REGISTRY)


OperationOutcome = Literal["success", "declined", "error", "in_doubt", "pending"]


def operation_outcome(outcome: GatewayOutcome, *, definitive: bool) -> OperationOutcome:
    """What an alert looks at: a PGR's result, or in_doubt when Stripe gave no definitive answer."""
    if not definitive:
        return "in_doubt"
    if outcome.result_success:
        return "success"
    if outcome.result_declined:
        return "declined"
    return "error" if outcome.result_error else "pending"


def count_gateway_operation(operation: str, outcome: GatewayOutcome, *, definitive: bool) -> None:
    """Count one journaled Stripe call of a gateway service (`operation`: Mantle's PaymentOperation enum id)."""
    GATEWAY_OPERATIONS.labels(operation, operation_outcome(outcome, definitive=definitive)).inc()


def count_reconciled(outcome: str) -> None:
    """Count one in-doubt attempt the reconciler examined, by how it ended."""
    RECONCILED_ATTEMPTS.labels(outcome).inc()


def count_background_job(job: str, *, failed: bool) -> None:
    """Count one run of a background job on this instance."""
    BACKGROUND_JOB_RUNS.labels(job, "failed" if failed else "ok").inc()


def set_background_leader(leading: bool) -> None:
    """Whether this process holds the background jobs' leader lock now."""
    BACKGROUND_LEADER.set(1 if leading else 0)


def observe_pool(size: int, idle: int, max_size: int) -> None:
    """Set the pool gauges of this process."""
    POOL_CONNECTIONS.labels("size").set(size)
    POOL_CONNECTIONS.labels("in_use").set(size - idle)
    POOL_CONNECTIONS.labels("max").set(max_size)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def metrics_middleware() -> Middleware:
    """An aiohttp middleware timing each request by its route template (raw paths would explode labels)."""

    # prometheus_client's labels() takes a lock and builds a key on every call: keep the children.
    counts: dict[tuple[str, str, int], Counter] = {}
    latencies: dict[tuple[str, str], Histogram] = {}

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
            elapsed = time.perf_counter() - started
            count = counts.get((route, request.method, status))
            if count is None:
                count = counts[route, request.method, status] = HTTP_REQUESTS.labels(route, request.method, str(status))
            count.inc()
            latency = latencies.get((route, request.method))
            if latency is None:
                latency = latencies[route, request.method] = HTTP_LATENCY.labels(route, request.method)
            latency.observe(elapsed)

    return middleware
