"""`RemoteMantleSide`: the Mantle side with a shared database, asking the real Moqui through its REST API.

Moqui then runs its own rules, SECAs and audit log. Two operations have no REST endpoint in Mantle and are left to
Moqui's own machinery:

- refreshing a payment's status: Moqui's ``poll#PaymentGatewayDetails`` job (service job
  ``poll_PaymentGatewayDetails``, nightly, shipped *paused* in Mantle's setup data: an operator must enable it) runs
  ``get#SinglePaymentGatewayDetails`` for Authorized and Delivered payments, which calls our details service; that
  service writes the PaymentGatewayResponse and answers the gateway status, and Moqui moves the Payment;
- recording a refund made outside Mantle (e.g. in the gateway's dashboard): its PaymentGatewayResponse is already in
  Moqui's database, but Moqui does not turn a PGR into a refund Payment by itself; Mantle's
  ``POST /payments/{paymentId}/createRefund`` (create#RefundPayment) is how an operator records it.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from moqui_bridge.mantle.side import GatewayRefundRecord, PaymentAuthorization, PaymentRefresh, PlacedOrder
from moqui_bridge.moqui_rest_client import MoquiRestClient

REFRESH_LEFT_TO_MOQUI = (
    "Moqui has no REST endpoint for get#SinglePaymentGatewayDetails: its poll#PaymentGatewayDetails job refreshes "
    "the status from the gateway"
)
REFUND_LEFT_TO_MOQUI = (
    "Moqui has no REST endpoint to record a gateway refund: the PaymentGatewayResponse is in Moqui's database, "
    "the refund Payment is for Moqui to create"
)


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _messages(result: Mapping[str, Any]) -> tuple[str, ...]:
    messages = result.get("messages")
    if isinstance(messages, list):
        return tuple(str(message) for message in messages)
    return (str(messages),) if messages else ()


def _optional_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


class RemoteMantleSide:
    """Calls Moqui's ``/rest/s1/mantle`` API. A failed call raises the client's ``MoquiRestError``."""

    def __init__(self, client: MoquiRestClient) -> None:
        self._client = client

    async def authorize_payment(self, payment_id: str) -> PaymentAuthorization:
        """POST /payments/{paymentId}/gateways/authorize, then read the Payment's status back."""
        result = await self._client.authorize_payment(payment_id)
        response = result.get("paymentGatewayResponse")
        response = response if isinstance(response, Mapping) else {}
        payment = await self._client.get_payment(payment_id)
        return PaymentAuthorization(
            payment_id=payment_id,
            status_id=_optional_str(payment.get("statusId")),
            payment_gateway_response_id=_optional_str(result.get("paymentGatewayResponseId")),
            succeeded=response.get("resultSuccess") == "Y",
            declined=response.get("resultDeclined") == "Y",
            messages=_messages(result),
        )

    async def add_order_part_payment(
        self,
        order_id: str,
        order_part_seq_id: str,
        amount: Decimal | None,
        payment_method_id: str | None,
        payment_gateway_config_id: str | None,
    ) -> str:
        """POST /orders/{orderId}/parts/{orderPartSeqId}/payments (add#OrderPartPayment)."""
        body = {
            key: value
            for key, value in {
                "amount": amount,
                "paymentMethodId": payment_method_id,
                "paymentGatewayConfigId": payment_gateway_config_id,
            }.items()
            if value is not None
        }
        path = f"/rest/s1/mantle/orders/{_segment(order_id)}/parts/{_segment(order_part_seq_id)}/payments"
        result = await self._client.call("POST", path, body=body or None)
        payment_id = result.get("paymentId") if isinstance(result, Mapping) else None
        if not payment_id:
            raise ValueError(f"Moqui answered add#OrderPartPayment for order {order_id} without a paymentId")
        return str(payment_id)

    async def place_order(self, order_id: str) -> PlacedOrder:
        """POST /orders/{orderId}/place, then read the order's status back."""
        result = await self._client.place_order(order_id)
        order = await self._client.get_order(order_id)
        changed = result.get("statusChanged")
        return PlacedOrder(
            order_id=order_id,
            status_id=_optional_str(order.get("statusId")),
            status_changed=changed if isinstance(changed, bool) else None,
            messages=_messages(result),
        )

    async def refresh_payment_status(self, payment_id: str) -> PaymentRefresh:
        """Left to Moqui's poll#PaymentGatewayDetails job; answers the status Moqui has now."""
        payment = await self._client.get_payment(payment_id)
        return PaymentRefresh(
            payment_id=payment_id,
            status_id=_optional_str(payment.get("statusId")),
            payment_gateway_response_id=None,
            refreshed=False,
            messages=(REFRESH_LEFT_TO_MOQUI,),
        )

    async def record_gateway_refund(
        self, payment_id: str, amount: Decimal, payment_gateway_response_id: str
    ) -> GatewayRefundRecord:
        """Left to Moqui: nothing is sent."""
        return GatewayRefundRecord(
            payment_id=payment_id,
            refund_payment_id=None,
            recorded=False,
            created=False,
            messages=(REFUND_LEFT_TO_MOQUI,),
        )
