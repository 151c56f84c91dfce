"""The connection budget computed at start-up: PostgreSQL's limits beside workers, pools, shares and Stripe limits."""

from __future__ import annotations

import logging

import pytest

from moqui_bridge.entity.connection import Pool
from service.config import ConfigError, DatabaseSettings, load_settings
from service.connection_budget import ConnectionBudget, check_connection_budget


def _budget(workers: int, pool_max_size: int, max_connections: int = 100, open_elsewhere: int = 0) -> ConnectionBudget:
    return ConnectionBudget(
        workers=workers,
        pool_max_size=pool_max_size,
        max_connections=max_connections,
        reserved_connections=3,
        open_elsewhere=open_elsewhere,
        in_flight_per_worker={"StripeGateway": 64},
        rates={"test:abc": 25.0},
    )


def test_pools_beyond_what_postgresql_accepts_are_refused() -> None:
    (problem,) = _budget(workers=2, pool_max_size=80).problems()
    assert "2 worker(s) x (database.pool_max_size 80 + 1 for background jobs) = 162 connections" in problem
    assert "PostgreSQL accepts 97" in problem
    assert _budget(workers=1, pool_max_size=80).problems() == []


def test_a_pool_too_small_for_its_admission_shares_is_refused() -> None:
    (problem,) = _budget(workers=1, pool_max_size=1).problems()
    assert "pool_max_size 1 is too small" in problem
    assert _budget(workers=1, pool_max_size=2).problems() == []


def test_the_default_pool_fits_its_shares_and_two_instances_of_two_workers_fit_postgresqls_default() -> None:
    default = DatabaseSettings().pool_max_size
    assert default == 20
    budget = _budget(workers=4, pool_max_size=default)
    assert (budget.problems(), budget.warnings()) == ([], [])
    assert "per pool: mantle-rule 10, 10 unadmitted" in budget.describe()


def test_connections_open_elsewhere_give_a_warning_not_a_refusal() -> None:
    budget = _budget(workers=1, pool_max_size=80, open_elsewhere=30)
    assert budget.problems() == []
    (warning,) = budget.warnings()
    assert "30 connections are already open elsewhere" in warning
    assert "StripeGateway 64 per worker (64 in all)" in budget.describe()


async def test_the_budget_reads_postgresql_and_refuses_at_start_up(
    entity_pool: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    gateways = {"gateways": {"StripeGateway": {"secret_key": "sk_test_budget"}}}
    fits = load_settings(None, environment={}, overrides={"database": {"pool_max_size": 10}, **gateways})
    with caplog.at_level(logging.INFO, logger="service.connection_budget"):
        budget = await check_connection_budget(fits, entity_pool)
    assert budget.max_connections > 0 and budget.open_elsewhere >= 0
    assert "connection budget: 1 worker(s) x (pool 10 + 1 background) = 11" in caplog.text
    assert "25/s" in caplog.text  # a test key: Stripe's test-mode limit
    too_many = load_settings(
        None, environment={}, overrides={"server": {"workers": 64}, "database": {"pool_max_size": 1000}, **gateways}
    )
    with pytest.raises(ConfigError, match="64 worker"):
        await check_connection_budget(too_many, entity_pool)
