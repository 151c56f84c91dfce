"""Housekeeping of the running service, run under service.background's single leader: the prune job (prune.py) and
the reconciler of in-doubt attempts (service/payment_services/reconcile.py), which passes settled outcomes on to the
Mantle side of their client (`status_recipients`).

`install_background_jobs(app)` adds to a service app (after `create_app`, before it starts) a BackgroundJobs of its
own that connects to the app's database once the app is up, registers the maintenance jobs and stops with the app.
Other parts register their jobs in `register_jobs` below, so every job runs under the one leader.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from moqui_bridge.mantle.local_side import LocalMantleSide
from moqui_bridge.mantle.remote_moqui import RemoteMantleSide
from moqui_bridge.mantle.side import MantleSide
from service.app import APP_STATE, AppState, Runtime
from service.background import BackgroundJobs
from service.config import Settings
from service.context import STANDALONE_CLIENT
from service.maintenance.prune import prune_expired_records
from service.payment_services.reconcile import ReconcileReport, reconcile_in_doubt

__all__ = [
    "BACKGROUND_JOBS",
    "PRUNE_JOB",
    "RECONCILE_JOB",
    "install_background_jobs",
    "register_jobs",
    "run_reconciler",
    "status_recipients",
]

PRUNE_JOB = "prune-expired-records"
RECONCILE_JOB = "reconcile-in-doubt"
BACKGROUND_JOBS = web.AppKey("moqui_stripe_background_jobs", BackgroundJobs)


def register_jobs(jobs: BackgroundJobs, state: AppState) -> None:
    """Every periodic job of the service (the app's runtime exists when they run)."""
    settings = state.settings

    async def prune() -> None:
        await prune_expired_records(state.require_runtime().entity, settings.retention)

    # The first prune a minute after start (or one interval, when shorter): a restart loop never turns into a prune
    # loop.
    interval = settings.retention.prune_interval_seconds
    jobs.register(PRUNE_JOB, interval, prune, first_delay_seconds=min(60.0, interval))

    async def reconcile() -> None:
        await run_reconciler(state)

    jobs.register(RECONCILE_JOB, settings.reconciler.interval_seconds, reconcile)


def status_recipients(runtime: Runtime, settings: Settings) -> dict[str, MantleSide]:
    """Whose Payments the reconciler can refresh, by client: the standalone rules' (local, in this database) and,
    with a Moqui configured, its client's (through the component's REST resource)."""
    mantle = runtime.mantle
    local = mantle if isinstance(mantle, LocalMantleSide) else LocalMantleSide(lambda: runtime.base_context)
    recipients: dict[str, MantleSide] = {STANDALONE_CLIENT: local}
    moqui_client = settings.moqui_client_name()
    if moqui_client is not None and isinstance(mantle, RemoteMantleSide):
        recipients[moqui_client] = mantle
    return recipients


async def run_reconciler(state: AppState) -> ReconcileReport:
    """One pass of the reconciler over the running app's database, outcomes passed on (the job, the command)."""
    runtime = state.require_runtime()
    return await reconcile_in_doubt(runtime.base_context, status_recipients(runtime, state.settings))


def install_background_jobs(app: web.Application, *, retry_seconds: float = 5.0) -> None:
    """Run the service's background jobs (on one instance among those sharing the database) while `app` runs."""
    state = app[APP_STATE]
    jobs = BackgroundJobs(state.database_dsn, retry_seconds=retry_seconds)
    register_jobs(jobs, state)
    app[BACKGROUND_JOBS] = jobs
    app.cleanup_ctx.append(_running(jobs))


def _running(jobs: BackgroundJobs) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        # After the runtime's own context (appended first by create_app): the pool and schema exist.
        await jobs.start()
        try:
            yield
        finally:
            await jobs.stop()

    return context
