"""The connection budget, computed and logged once at start-up: PostgreSQL's connections against what we may open.

Inputs: PostgreSQL's `max_connections` less its reserved slots, how many client connections are open already (other
instances, Moqui, tools), the workers and each one's pool bound, the admission shares of each pool
(`ADMISSION_SHARES`), the Stripe requests each gateway config may have in flight per worker, and each Stripe
account's rate. A configuration that cannot work is refused with one line saying what to change:
- the pools of all workers together exceed what PostgreSQL accepts at all;
- a pool too small for its admission shares (each kind is given at least one connection; together they would leave
  none for health checks, plain reads and the rate limiter's statement).
A budget that only fits if nobody else is connected is logged as a warning (a rolling restart briefly runs old and
new instances side by side).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from moqui_bridge.entity.connection import Pool
from moqui_bridge.entity.facade import ADMISSION_SHARES
from service.config import ConfigError, Settings
from service.stripe_gateway.rate_limit import StripeLimits

__all__ = ["BACKGROUND_CONNECTIONS", "ConnectionBudget", "check_connection_budget", "read_connection_budget"]

log = logging.getLogger(__name__)

# Each process's background jobs hold one connection of their own for the leader lock (service/background).
BACKGROUND_CONNECTIONS = 1


@dataclass(frozen=True)
class ConnectionBudget:
    """Everything the budget is computed from; `problems()` and `warnings()` say whether it works."""

    workers: int
    pool_max_size: int
    max_connections: int
    reserved_connections: int
    open_elsewhere: int
    in_flight_per_worker: Mapping[str, int]
    rates: Mapping[str, float]

    @property
    def usable(self) -> int:
        """Connections PostgreSQL gives ordinary roles."""
        return self.max_connections - self.reserved_connections

    @property
    def needed(self) -> int:
        """Connections all workers may open at once: each one's pool and its background jobs' lock connection."""
        return self.workers * (self.pool_max_size + BACKGROUND_CONNECTIONS)

    def admission_connections(self) -> dict[str, int]:
        """Connections each admitted kind of work may hold in one worker's pool (at least one each)."""
        return {kind: max(1, int(self.pool_max_size * share)) for kind, share in ADMISSION_SHARES.items()}

    def problems(self) -> list[str]:
        """Why this configuration cannot work (empty when it can)."""
        found = []
        if self.needed > self.usable:
            found.append(
                f"{self.workers} worker(s) x (database.pool_max_size {self.pool_max_size} + "
                f"{BACKGROUND_CONNECTIONS} for background jobs) = {self.needed} connections, "
                f"but PostgreSQL accepts {self.usable} (max_connections {self.max_connections} less "
                f"{self.reserved_connections} reserved): lower pool_max_size or workers, or raise max_connections"
            )
        admitted = sum(self.admission_connections().values())
        if admitted >= self.pool_max_size:
            found.append(
                f"database.pool_max_size {self.pool_max_size} is too small: its admission shares take {admitted} "
                "connections and leave none for health checks and the rate limiter (use at least "
                f"{admitted + 1})"
            )
        return found

    def warnings(self) -> list[str]:
        """What works now but may not in a rolling restart or with more replicas."""
        if self.problems() or self.needed <= self.usable - self.open_elsewhere:
            return []
        return [
            f"{self.open_elsewhere} connections are already open elsewhere: with them, {self.needed} more would "
            f"exceed the {self.usable} PostgreSQL accepts; count every replica's workers x pool_max_size"
        ]

    def describe(self) -> str:
        """One log line with the whole budget."""
        kinds = ", ".join(f"{kind} {count}" for kind, count in self.admission_connections().items())
        free = self.pool_max_size - sum(self.admission_connections().values())
        in_flight = ", ".join(
            f"{config_id} {count} per worker ({count * self.workers} in all)"
            for config_id, count in self.in_flight_per_worker.items()
        )
        rates = ", ".join(f"{bucket} {rate:g}/s" for bucket, rate in self.rates.items())
        return (
            f"connection budget: {self.workers} worker(s) x (pool {self.pool_max_size} + {BACKGROUND_CONNECTIONS} "
            f"background) = {self.needed} of "
            f"PostgreSQL's {self.usable} usable ({self.open_elsewhere} open elsewhere now); per pool: {kinds}, "
            f"{free} unadmitted; Stripe in flight: {in_flight or 'no gateways'}; "
            f"Stripe rate per account, all processes together: {rates or 'no gateways'}"
        )


async def read_connection_budget(settings: Settings, pool: Pool) -> ConnectionBudget:
    """Ask PostgreSQL for its limits and put them beside the configuration."""
    async with pool.acquire() as connection:
        max_connections = int(await connection.fetchval("SHOW max_connections"))
        reserved = int(await connection.fetchval("SHOW superuser_reserved_connections"))
        # PostgreSQL 16 added slots reserved for pg_use_reserved_connections roles.
        if await connection.fetchval("SELECT count(*) FROM pg_settings WHERE name = 'reserved_connections'"):
            reserved += int(await connection.fetchval("SHOW reserved_connections"))
        open_elsewhere = int(
            await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()"
            )
        )
    rates: dict[str, float] = {}
    for gateway in settings.gateways.values():
        limits = StripeLimits.of_gateway(gateway)
        rates.setdefault(limits.bucket_id, limits.requests_per_second)
    return ConnectionBudget(
        workers=settings.server.workers,
        pool_max_size=settings.database.pool_max_size,
        max_connections=max_connections,
        reserved_connections=reserved,
        open_elsewhere=open_elsewhere,
        in_flight_per_worker={
            config_id: gateway.max_in_flight_requests for config_id, gateway in settings.gateways.items()
        },
        rates=rates,
    )


async def check_connection_budget(settings: Settings, pool: Pool) -> ConnectionBudget:
    """Read, log and check the budget; ConfigError (one line) when the configuration cannot work."""
    budget = await read_connection_budget(settings, pool)
    log.info("%s", budget.describe())
    for warning in budget.warnings():
        log.warning("connection budget: %s", warning)
    problems = budget.problems()
    if problems:
        raise ConfigError("connection budget: " + "; ".join(problems))
    return budget
