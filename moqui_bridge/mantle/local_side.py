"""`LocalMantleSide`: the Mantle side in standalone mode, running the ported rules through a MantleContext."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from moqui_bridge.mantle import gateway
from moqui_bridge.mantle.authorization import authorize_payment
from moqui_bridge.mantle.context import MantleContext
from moqui_bridge.mantle.orders import add_order_part_payment, place_order
from moqui_bridge.mantle.refunds import record_gateway_refund
from moqui_bridge.mantle.rule_call import leased_rule_call
from moqui_bridge.mantle.settlement import refresh_payment_details
from moqui_bridge.mantle.side import GatewayRefundRecord, PaymentAuthorization, PaymentRefresh, PlacedOrder


class LocalMantleSide:
    """Runs Mantle's rules in this process. ``context_factory`` makes the context each operation runs with (the
    application's ServiceContext holds this side, so it is made per call rather than passed in once)."""

    def __init__(self, context_factory: Callable[[], MantleContext]) -> None:
        self._context_factory = context_factory

    async def authorize_payment(self, payment_id: str) -> PaymentAuthorization:
        """authorize#SinglePayment."""
        async with leased_rule_call(self._context_factory(), "payment", payment_id) as call:
            outcome = await authorize_payment(call, payment_id)
        return PaymentAuthorization(
            payment_id=payment_id,
            status_id=outcome.payment.get("statusId"),
            payment_gateway_response_id=outcome.response_id,
            succeeded=gateway.succeeded(outcome.response),
            declined=gateway.declined(outcome.response),
            messages=tuple(outcome.messages),
        )

    async def add_order_part_payment(
        self,
        order_id: str,
        order_part_seq_id: str,
        amount: Decimal | None,
        payment_method_id: str | None,
        payment_gateway_config_id: str | None,
    ) -> str:
        """add#OrderPartPayment."""
        return await add_order_part_payment(
            self._context_factory(),
            order_id,
            order_part_seq_id,
            amount=amount,
            payment_method_id=payment_method_id,
            payment_instrument_enum_id=None,
            payment_gateway_config_id=payment_gateway_config_id,
        )

    async def place_order(self, order_id: str) -> PlacedOrder:
        """place#Order."""
        placement = await place_order(self._context_factory(), order_id)
        return PlacedOrder(
            order_id=order_id,
            status_id=placement.status_id,
            status_changed=placement.status_changed,
            auth_failed=placement.authorization.auth_failed,
            total_authorized=placement.authorization.total_authorized,
            messages=tuple(placement.authorization.messages),
        )

    async def refresh_payment_status(self, payment_id: str) -> PaymentRefresh:
        """get#SinglePaymentGatewayDetails."""
        async with leased_rule_call(self._context_factory(), "payment", payment_id) as call:
            outcome = await refresh_payment_details(call, payment_id)
        return PaymentRefresh(
            payment_id=payment_id,
            status_id=outcome.payment.get("statusId"),
            payment_gateway_response_id=outcome.response_id,
            refreshed=True,
            messages=tuple(outcome.messages),
        )

    async def record_gateway_refund(
        self, payment_id: str, amount: Decimal, payment_gateway_response_id: str
    ) -> GatewayRefundRecord:
        """Create the PtRefund Payment for a refund the gateway made on its own (no gateway call)."""
        recorded = await record_gateway_refund(self._context_factory(), payment_id, amount, payment_gateway_response_id)
        return GatewayRefundRecord(
            payment_id=payment_id,
            refund_payment_id=recorded.refund_payment_id,
            recorded=True,
            created=recorded.created,
        )
