"""Finding a Payment's gateway configuration, calling the implementation it names, and reading its answer.

The gateway implementation (Stripe's, a test one, ...) writes a PaymentGatewayResponse (PGR) and answers with its id;
like Mantle, the rules then re-read that row rather than trusting anything else the call returned.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from moqui_bridge.entity.facade import EntityFacade
from moqui_bridge.mantle import names
from moqui_bridge.mantle.context import MantleContext, RuleTransaction, now_timestamp
from moqui_bridge.mantle.records import Connection, Record
from moqui_bridge.service.errors import ServiceError

log = logging.getLogger(__name__)

Operation = Literal["authorize", "capture", "release", "refund", "details"]

# A PGR found by payment method instead of by id is trusted only if this fresh (Mantle's own window).
_FALLBACK_WINDOW = timedelta(milliseconds=60_000)


def _first(*candidates: Any) -> str | None:
    for candidate in candidates:
        if candidate:
            return str(candidate)
    return None


def _financial_account_default(payment: Mapping[str, Any]) -> str | None:
    if payment.get("paymentInstrumentEnumId") == names.PI_FINANCIAL_ACCOUNT:
        return names.FINANCIAL_ACCOUNT_GATEWAY
    return None


async def config_id_for_authorize(
    entity: EntityFacade,
    connection: Connection | None,
    payment: Mapping[str, Any],
    payment_method: Mapping[str, Any] | None,
    requested_config_id: str | None,
    product_store_id: str | None = None,
) -> str | None:
    """The gateway config an authorization uses.

    Order: the caller's explicit id; the PaymentMethod's (a vaulted method only works with the gateway that holds it);
    the Payment's own; the product store's gateway for the payment instrument (authorize#StorePayment only);
    FinancialAccountLocal for financial-account payments.
    """
    chosen = _first(
        requested_config_id,
        payment_method.get("paymentGatewayConfigId") if payment_method else None,
        payment.get("paymentGatewayConfigId"),
    )
    if chosen is None and product_store_id and payment.get("paymentInstrumentEnumId"):
        store_gateway = await entity.find_one(
            names.STORE_GATEWAY,
            {"productStoreId": product_store_id, "paymentInstrumentEnumId": payment["paymentInstrumentEnumId"]},
            connection=connection,
        )
        if store_gateway is not None:
            chosen = _first(store_gateway.get("paymentGatewayConfigId"))
    return chosen or _financial_account_default(payment)


async def config_id_for_existing(
    entity: EntityFacade,
    connection: Connection | None,
    payment: Mapping[str, Any],
    payment_method: Mapping[str, Any] | None,
) -> str | None:
    """The gateway config for capture, release, refund and details.

    Order: the Payment's (set at authorization); the config of its successful authorization PGR; the PaymentMethod's;
    FinancialAccountLocal for financial-account payments.
    """
    authorize_response = await find_authorize_response(entity, connection, str(payment["paymentId"]))
    return _first(
        payment.get("paymentGatewayConfigId"),
        authorize_response.get("paymentGatewayConfigId") if authorize_response else None,
        payment_method.get("paymentGatewayConfigId") if payment_method else None,
    ) or _financial_account_default(payment)


async def load_config(entity: EntityFacade, connection: Connection | None, config_id: str) -> Record:
    """The PaymentGatewayConfig, or a ServiceError: a dangling id is a configuration mistake, not a skip."""
    config = await entity.find_one(names.GATEWAY_CONFIG, {"paymentGatewayConfigId": config_id}, connection=connection)
    if config is None:
        raise ServiceError(f"Payment gateway configuration {config_id} not found")
    return config


def service_name(config: Mapping[str, Any], operation: Operation) -> str | None:
    """The implementation the config names for an operation; None (skip the operation) when empty."""
    value = str(config.get(f"{operation}ServiceName") or "").strip()
    return value or None


async def find_authorize_response(
    entity: EntityFacade, connection: Connection | None, payment_id: str
) -> Record | None:
    """The newest successful authorize (or authorize-and-capture) PGR of a Payment."""
    return await _newest_success(entity, connection, payment_id, (names.PGO_AUTHORIZE, names.PGO_AUTH_AND_CAPTURE))


async def find_capture_response(entity: EntityFacade, connection: Connection | None, payment_id: str) -> Record | None:
    """For a captured Payment, the PGR that recorded its capture: the newest successful capture,
    authorize-and-capture or details PGR (a capture learnt from the gateway, by a webhook or the capture pre-check,
    is recorded by the details PGR that saw it)."""
    operations = (names.PGO_CAPTURE, names.PGO_AUTH_AND_CAPTURE, names.PGO_TX_DETAILS)
    return await _newest_success(entity, connection, payment_id, operations)


async def _newest_success(
    entity: EntityFacade, connection: Connection | None, payment_id: str, operations: tuple[str, ...]
) -> Record | None:
    responses = await entity.find(
        names.GATEWAY_RESPONSE,
        {"paymentId": payment_id, "resultSuccess": "Y"},
        order_by=["-transactionDate"],
        connection=connection,
    )
    for response in responses:
        if response.get("paymentOperationEnumId") in operations:
            return response
    return None


async def call_gateway(
    context: MantleContext, transaction: RuleTransaction, implementation: str, parameters: Mapping[str, Any]
) -> dict[str, Any]:
    """Call the configured implementation, which records its answer in the rule's `transaction`; its ServiceError
    propagates (the rule's open writes roll back, as Moqui rolls the caller back)."""
    log.debug("calling gateway service %s for payment %s", implementation, parameters.get("paymentId"))
    return await context.call_service(implementation, parameters, transaction=transaction)


async def read_gateway_response(
    entity: EntityFacade,
    connection: Connection | None,
    payment: Mapping[str, Any],
    response_id: Any,
    implementation: str,
) -> Record | None:
    """Re-read the PGR the implementation wrote.

    Without an id, take the newest PGR of the payment's method if it is fresh; otherwise log, and the caller changes
    nothing (Mantle's behaviour: an implementation that leaves no PGR is a broken one, not a decline).
    """
    if response_id:
        response = await entity.find_one(
            names.GATEWAY_RESPONSE, {"paymentGatewayResponseId": str(response_id)}, connection=connection
        )
        if response is not None:
            return response
        log.error("PaymentGatewayResponse %s returned by %s does not exist", response_id, implementation)
        return None
    log.warning("No paymentGatewayResponseId returned by %s for payment %s", implementation, payment["paymentId"])
    if payment.get("paymentMethodId"):
        recent = await entity.find(
            names.GATEWAY_RESPONSE,
            {"paymentMethodId": payment["paymentMethodId"]},
            order_by=["-transactionDate"],
            limit=1,
            connection=connection,
        )
        fresh_since = now_timestamp() - _FALLBACK_WINDOW
        if recent and recent[0].get("transactionDate") is not None and recent[0]["transactionDate"] >= fresh_since:
            return recent[0]
    log.error("No PaymentGatewayResponse found after call to %s for payment %s", implementation, payment["paymentId"])
    return None


def succeeded(response: Mapping[str, Any] | None) -> bool:
    """The PGR says the operation went through."""
    return response is not None and response.get("resultSuccess") == "Y"


def declined(response: Mapping[str, Any] | None) -> bool:
    """The PGR says the card or bank said no."""
    return response is not None and response.get("resultDeclined") == "Y"
