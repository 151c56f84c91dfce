"""The reconciler's world: the gateway API's (tests/gateway_api/conftest.py) with one clock shared by the service
and the test, moved together with the Stripe emulator's clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from service.app import APP_STATE
from service.clock import Clock
from service.context import ServiceContext
from service.payment_services.reconcile import ReconcileReport, reconcile_in_doubt
from stripe_emulator.control import EmulatorControl
from tests.gateway_api.conftest import GatewayWorld, gateway_settings, running_world

HOUR = 3600


@dataclass
class ReconcilerWorld:
    """The gateway world, its shared clock, and the reconciler run on demand."""

    gateway: GatewayWorld
    clock: Clock

    @property
    def context(self) -> ServiceContext:
        """The running service's base context (what the background job runs with)."""
        return self.gateway.app[APP_STATE].require_runtime().base_context

    async def later(self, seconds: int) -> None:
        """Time passes for the service and for Stripe alike (Stripe prunes keys older than 24 h on its clock)."""
        self.clock.advance(seconds)
        await self.gateway.emulator.advance_clock(seconds)

    async def reconcile(self) -> ReconcileReport:
        """One pass of the reconciler, as the background job runs it."""
        return await reconcile_in_doubt(self.context)


@pytest.fixture
async def shared_clock_world(
    entity_database_dsn: str, stripe_emulator_url: str, emulator_control: EmulatorControl
) -> AsyncIterator[ReconcilerWorld]:
    """The app over a fresh database, the emulator reset, a clock the test moves."""
    clock = Clock()
    overrides = gateway_settings(stripe_emulator_url)
    async with running_world(
        entity_database_dsn, stripe_emulator_url, emulator_control, overrides, clock=clock
    ) as world:
        yield ReconcilerWorld(world, clock)
