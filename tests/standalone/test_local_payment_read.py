"""The standalone client's read before each gateway call (standalone_reads.py) touches only the payment's own rows,
even while the tables' statistics are young: analyzed when they were nearly empty, then grown by thousands of rows
before autovacuum analyzes them again (a new installation's first minutes; the benchmark's whole run)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.connection import Connection
from moqui_bridge.mantle import names
from service.payment_services.intent_link import PAYMENT_INTENT_LINK
from service.payment_services.journal import GATEWAY_OPERATION
from service.payment_services.standalone_reads import LocalPayment, local_payment_statement, read_local_payment

CONFIG_ID = "StripeGateway"
CLIENT = "standalone"
PAYMENT = "ReadTarget"
OTHER_PAYMENTS = 3000


async def _young_statistics(entity: EntityFacade) -> dict[str, str]:
    """Analyze the tables nearly empty, then fill them with other payments' rows; returns the tables by entity."""
    tables = {name: entity.definition(name).table_name for name in (names.GATEWAY_RESPONSE, GATEWAY_OPERATION)}
    tables[PAYMENT_INTENT_LINK] = entity.definition(PAYMENT_INTENT_LINK).table_name
    responses, journal, links = tables[names.GATEWAY_RESPONSE], tables[GATEWAY_OPERATION], tables[PAYMENT_INTENT_LINK]
    async with entity.connection() as connection:
        await connection.execute(f"ANALYZE {responses}; ANALYZE {journal}; ANALYZE {links}")
        await connection.execute(
            f"INSERT INTO {responses} (PAYMENT_GATEWAY_RESPONSE_ID, PAYMENT_ID, PAYMENT_OPERATION_ENUM_ID, "
            "RESULT_SUCCESS, REFERENCE_NUM, TRANSACTION_DATE) "
            "SELECT 'R' || n || op, 'P' || n, op, 'Y', 'pi_' || n, now() "
            f"FROM generate_series(1, {OTHER_PAYMENTS}) n, unnest(ARRAY['PgoAuthorize', 'PgoCapture']) op"
        )
        await connection.execute(
            f"INSERT INTO {journal} (OPERATION_ID, CLIENT_NAME, PAYMENT_GATEWAY_CONFIG_ID, PAYMENT_ID, "
            "OPERATION_NAME, ATTEMPT_NUM, STRIPE_CALL, OPERATION_STATUS_ID) "
            f"SELECT 'O' || n, '{CLIENT}', '{CONFIG_ID}', 'P' || n, 'authorize', 0, 'create', 'SgoCompleted' "
            f"FROM generate_series(1, {OTHER_PAYMENTS}) n"
        )
        await connection.execute(
            f"INSERT INTO {links} (PAYMENT_INTENT_ID, CLIENT_NAME, PAYMENT_ID, PAYMENT_GATEWAY_CONFIG_ID, "
            f"OPERATION_ID, INTENT_STATUS, CREATED_DATE) SELECT 'pi_' || n, '{CLIENT}', 'P' || n, '{CONFIG_ID}', "
            f"'O' || n, 'requires_capture', now() FROM generate_series(1, {OTHER_PAYMENTS}) n"
        )
    return tables


async def _authorized_payment(entity: EntityFacade, reference_on_pgr: bool) -> None:
    """PAYMENT, authorized by the journal's operation `OT` into pi_target; its PGR names the PaymentIntent or not."""
    await entity.create(
        names.PAYMENT,
        {"paymentId": PAYMENT, "paymentGatewayConfigId": CONFIG_ID, "amount": "10.00", "amountUomId": "USD"},
    )
    await entity.create(
        names.GATEWAY_RESPONSE,
        {
            "paymentGatewayResponseId": "RTarget",
            "paymentId": PAYMENT,
            "paymentOperationEnumId": "PgoAuthorize",
            "resultSuccess": "Y",
            "referenceNum": "pi_target" if reference_on_pgr else "AUTH-1",
        },
    )
    await entity.create(
        GATEWAY_OPERATION,
        {
            "operationId": "OT",
            "clientName": CLIENT,
            "paymentGatewayConfigId": CONFIG_ID,
            "paymentId": PAYMENT,
            "operationName": "authorize",
            "attemptNum": 0,
        },
    )
    await entity.create(
        PAYMENT_INTENT_LINK,
        {"paymentIntentId": "pi_target", "clientName": CLIENT, "paymentId": PAYMENT, "operationId": "OT"},
    )


async def _read_for_capture(entity: EntityFacade, connection: Connection | None) -> LocalPayment:
    """What the standalone client reads before capturing PAYMENT."""
    return await read_local_payment(
        entity,
        PAYMENT,
        CONFIG_ID,
        client_name=CLIENT,
        counted=["PgoCapture"],
        attempted_by=["capture"],
        authorized=True,
        connection=connection,
    )


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan."""
    return [plan, *(node for child in plan.get("Plans", ()) for node in _nodes(child))]


def _rows_read(plan: dict[str, Any], table: str) -> float:
    """Rows the plan's scans of `table` read (kept or filtered away), over all their loops."""
    return sum(
        float(node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * float(node.get("Actual Loops", 0))
        for node in _nodes(plan)
        if node.get("Relation Name") == table.lower()
    )


@pytest.mark.parametrize("plan_cache_mode", ["force_custom_plan", "force_generic_plan"])
async def test_a_capture_reads_its_own_rows_only_under_young_statistics(
    entity_facade: EntityFacade, plan_cache_mode: str
) -> None:
    tables = await _young_statistics(entity_facade)
    await _authorized_payment(entity_facade, reference_on_pgr=True)
    parameters = (PAYMENT, CONFIG_ID, ["PgoCapture"], True, CLIENT, ["capture"])
    async with entity_facade.connection() as connection:
        await connection.execute(f"SET plan_cache_mode = {plan_cache_mode}")
        local = await _read_for_capture(entity_facade, connection)
        assert (local.payment_intent_id, local.attempt_num) == ("pi_target", 0)
        explained = await connection.fetchval(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {local_payment_statement(entity_facade.registry)}", *parameters
        )
        await connection.execute("RESET plan_cache_mode")
    plan = _load(explained)
    # The PGR named the PaymentIntent: the journal and the links are never read.
    assert _rows_read(plan, tables[GATEWAY_OPERATION]) == 0
    assert _rows_read(plan, tables[PAYMENT_INTENT_LINK]) == 0
    # The attempts and the authorization come from the payment's own PGR (read once for each), not from a walk
    # over the 3,000 captures of other payments.
    assert _rows_read(plan, tables[names.GATEWAY_RESPONSE]) <= 2


async def test_without_a_reference_the_link_names_the_payment_intent(entity_facade: EntityFacade) -> None:
    await _young_statistics(entity_facade)
    await _authorized_payment(entity_facade, reference_on_pgr=False)
    local = await _read_for_capture(entity_facade, None)
    assert local.payment_intent_id == "pi_target"


def _load(explained: Any) -> dict[str, Any]:
    """The top plan node of asyncpg's EXPLAIN (FORMAT JSON) answer (text or already decoded)."""
    document = json.loads(explained) if isinstance(explained, str) else explained
    plan: dict[str, Any] = document[0]["Plan"]
    return plan
