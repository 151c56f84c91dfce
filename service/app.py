"""The aiohttp application: dispatchers, health and metrics, wired to one database and the Stripe accounts.

The app is built synchronously (routes, registry, authenticator) and connects on startup (pool, schema, Stripe
clients), releasing everything on cleanup, so tests and the server share one construction path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from moqui_bridge.database.pool import create_pool
from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.connection import Pool
from moqui_bridge.entity.liveness import ProcessLiveness
from moqui_bridge.mantle.local_side import LocalMantleSide
from moqui_bridge.mantle.party_cards import LocalPartyCards, PartyCardsSide
from moqui_bridge.mantle.remote_moqui import RemoteMantleSide
from moqui_bridge.mantle.remote_party_cards import RemotePartyCards
from moqui_bridge.mantle.side import MantleSide
from moqui_bridge.moqui_rest_client import MoquiRestClient
from moqui_bridge.service import ColumnLimits, ServiceRegistry
from moqui_bridge.web.auth import Authenticator, Principal
from moqui_bridge.web.json_rpc import add_json_rpc_route
from moqui_bridge.web.rest import add_rest_routes
from service import metrics
from service.checkout.merchant import add_merchant_logo_route
from service.checkout.pages import CheckoutServices, add_checkout_routes
from service.clock import SYSTEM_CLOCK, Clock
from service.config import Settings
from service.context import IDEMPOTENCY_KEY_HEADER, ServiceContext
from service.database_setup import load_entity_registry, prepare_database
from service.idempotent_requests import idempotent_requests_middleware
from service.payment_services.installation import ensure_installation_id
from service.recovery.pages import add_recovery_routes
from service.rest_api import rest_apis
from service.saved_cards.checkout_cards import add_checkout_card_routes
from service.saved_cards.pages import SavedCardServices, add_saved_cards_routes
from service.service_catalogue import register_services
from service.staff_cards.pages import add_staff_card_routes
from service.stripe_gateway.client import StripeAccountSettings, StripeGateways
from service.stripe_gateway.rate_limit import SharedTokenBucket, StripeAdmission, StripeLimits
from service.webhooks import add_webhook_routes

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What exists only while the app runs: the pool, the facade, the Stripe clients, the base context, and the
    Mantle side that flows starting here (checkout, webhooks) ask to act."""

    pool: Pool
    entity: EntityFacade
    gateways: StripeGateways
    base_context: ServiceContext
    mantle: MantleSide
    # Saved cards' Mantle side (docs/saved-cards.md): the Moqui's component resources, else the local tables.
    cards: PartyCardsSide

    def require_mantle(self) -> MantleSide:
        """The Mantle side checkout and webhooks ask to act."""
        return self.mantle


@dataclass
class AppState:
    """Everything the handlers share; one per application."""

    settings: Settings
    registry: ServiceRegistry[ServiceContext]
    authenticator: Authenticator
    database_dsn: str
    # False in `serve --workers N` workers: the parent prepared the database once before starting them.
    prepare_schema: bool = True
    clock: Clock = SYSTEM_CLOCK
    runtime: Runtime | None = field(default=None)

    def require_runtime(self) -> Runtime:
        """The running app's resources (the app must have started)."""
        if self.runtime is None:
            raise web.HTTPServiceUnavailable(text="moqui-stripe is starting")
        return self.runtime


APP_STATE = web.AppKey("moqui_stripe_state", AppState)


def stripe_account_settings(settings: Settings) -> dict[str, StripeAccountSettings]:
    """The Stripe account of every configured gateway config."""
    return {
        config_id: StripeAccountSettings(
            secret_key=gateway.secret_key.get_secret_value(),
            publishable_key=gateway.publishable_key,
            api_base=gateway.api_base or None,
            max_network_retries=gateway.max_network_retries,
            timeout_seconds=gateway.timeout_seconds,
        )
        for config_id, gateway in settings.gateways.items()
    }


def stripe_admissions(settings: Settings, pool: Pool) -> dict[str, StripeAdmission]:
    """The in-flight and rate limits of every configured gateway config; configs of one account share its bucket."""
    buckets: dict[str, SharedTokenBucket] = {}
    admissions: dict[str, StripeAdmission] = {}
    for config_id, gateway in settings.gateways.items():
        limits = StripeLimits.of_gateway(gateway)
        bucket = buckets.setdefault(
            limits.bucket_id, SharedTokenBucket(pool, limits.bucket_id, limits.requests_per_second)
        )
        admissions[config_id] = StripeAdmission(config_id, limits, bucket)
    return admissions


def build_authenticator(settings: Settings) -> Authenticator:
    """Basic users and api keys from configuration."""
    return Authenticator(
        users={name: password.get_secret_value() for name, password in settings.server.users.items()},
        api_keys={name: key.get_secret_value() for name, key in settings.server.api_keys.items()},
    )


def _context_factory(state: AppState):  # type: ignore[no-untyped-def]
    def factory(request: web.Request, principal: Principal | None) -> ServiceContext:
        runtime = state.require_runtime()
        return runtime.base_context.for_request(principal, request.headers.get(IDEMPOTENCY_KEY_HEADER))

    return factory


async def _health(request: web.Request) -> web.Response:
    state = request.app[APP_STATE]
    runtime = state.runtime
    database = "down"
    if runtime is not None:
        try:
            async with runtime.pool.acquire() as connection:
                await connection.fetchval("SELECT 1")
            database = "up"
        except Exception:  # any failure means the database is unusable; the reason goes to the log
            log.warning("health check: database not reachable", exc_info=True)
    status = "ok" if database == "up" else "degraded"
    body = {"status": status, "database": database}
    return web.json_response(body, status=200 if status == "ok" else 503)


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(body=metrics.render(), content_type="text/plain")


def create_app(
    settings: Settings, database_dsn: str, *, prepare_schema: bool = True, clock: Clock = SYSTEM_CLOCK
) -> web.Application:
    """The whole service as one aiohttp application, connecting to `database_dsn` on startup.

    `prepare_schema=False` skips the schema and seed work (a `serve --workers N` parent did it once). `clock` is what
    the journal and the reconciler read as now (tests pass one they move).
    """
    # Parameters named after entity fields are checked against their columns before anything runs.
    registry: ServiceRegistry[ServiceContext] = ServiceRegistry(
        column_limits=ColumnLimits.from_entities(load_entity_registry())
    )
    register_services(registry)
    state = AppState(settings, registry, build_authenticator(settings), database_dsn, prepare_schema, clock)

    # Inside the metrics middleware, so replays and refusals are counted like any other answer.
    idempotency = idempotent_requests_middleware(
        state.authenticator, lambda: state.runtime.entity if state.runtime is not None else None
    )
    app = web.Application(middlewares=[metrics.metrics_middleware(), idempotency])
    app[APP_STATE] = state
    factory = _context_factory(state)
    add_json_rpc_route(app, registry, factory, state.authenticator)
    add_rest_routes(app, rest_apis(), registry, factory, state.authenticator)
    add_checkout_routes(app, lambda: _checkout_services(state))
    add_recovery_routes(app, lambda: _checkout_services(state))
    add_saved_cards_routes(app, lambda: _saved_card_services(state))
    add_checkout_card_routes(app, lambda: _saved_card_services(state))
    add_merchant_logo_route(app, settings.checkout)
    add_staff_card_routes(app, lambda: _saved_card_services(state))
    add_webhook_routes(app, state, lambda runtime: runtime.require_mantle())
    app.router.add_get("/health", _health)
    app.router.add_get("/metrics", _metrics)
    app.cleanup_ctx.append(_runtime(state))
    return app


def _checkout_services(state: AppState) -> CheckoutServices:
    runtime = state.require_runtime()
    return CheckoutServices(runtime.base_context, runtime.require_mantle())


def _saved_card_services(state: AppState) -> SavedCardServices:
    runtime = state.require_runtime()
    return SavedCardServices(runtime.base_context, runtime.cards, runtime.require_mantle())


@contextlib.asynccontextmanager
async def _pool_gauges(pool: Pool, every_seconds: float = 1.0) -> AsyncIterator[None]:
    """Sample the pool into its gauges while the block runs.

    Sampled rather than read at /metrics: with several workers, the one answering cannot see the others' pools.
    """

    async def sample() -> None:
        while True:
            metrics.observe_pool(pool.get_size(), pool.get_idle_size(), pool.get_max_size())
            await asyncio.sleep(every_seconds)

    sampler = asyncio.create_task(sample())
    try:
        yield
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler


def _remote_moqui_client(settings: Settings) -> MoquiRestClient | None:
    """With moqui.base_url, Moqui's REST API runs Mantle's rules for checkout and webhooks; without, the standalone
    rules in this process do (None)."""
    moqui = settings.moqui
    if not moqui.base_url:
        return None
    return MoquiRestClient(
        moqui.base_url,
        username=moqui.username or None,
        password=moqui.password.get_secret_value() if moqui.password else None,
        api_key=moqui.api_key.get_secret_value() if moqui.api_key else None,
        timeout=moqui.timeout_seconds,
    )


@contextlib.asynccontextmanager
async def _stopping(liveness: ProcessLiveness) -> AsyncIterator[None]:
    """Give the liveness lock back when the runtime ends."""
    try:
        yield
    finally:
        await liveness.stop()


def _runtime(state: AppState):  # type: ignore[no-untyped-def]
    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = state.settings
        pool = await create_pool(
            state.database_dsn,
            min_size=settings.database.pool_min_size,
            max_size=settings.database.pool_max_size,
        )
        try:
            entity = EntityFacade(pool, load_entity_registry())
            installation_id = (
                await prepare_database(entity, list(settings.gateways))
                if state.prepare_schema
                else await ensure_installation_id(entity)
            )
            gateways = StripeGateways(stripe_account_settings(settings), stripe_admissions(settings, pool))
            liveness = ProcessLiveness(pool)
            await liveness.start()
            async with _pool_gauges(pool), gateways, _stopping(liveness):
                base_context = ServiceContext(
                    entity=entity,
                    gateways=gateways,
                    settings=settings,
                    services=state.registry,
                    installation_id=installation_id,
                    clock=state.clock,
                    liveness_key=liveness.key,
                )
                moqui_client = _remote_moqui_client(settings)
                mantle: MantleSide = (
                    RemoteMantleSide(moqui_client)
                    if moqui_client is not None
                    else LocalMantleSide(lambda: base_context)
                )
                cards: PartyCardsSide = (
                    RemotePartyCards(moqui_client)
                    if moqui_client is not None
                    else LocalPartyCards(lambda: base_context)
                )
                state.runtime = Runtime(pool, entity, gateways, base_context, mantle, cards)
                try:
                    yield
                finally:
                    state.runtime = None
                    if moqui_client is not None:
                        await moqui_client.close()
        finally:
            await pool.close()

    return context
