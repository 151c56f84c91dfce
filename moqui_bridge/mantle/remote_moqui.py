"""`RemoteMantleSide`: the Mantle side when a Moqui is configured, asking that Moqui through its REST API.

Flows that start here (checkout, Stripe's webhooks) reach Moqui through the component's own REST resources
(``/rest/s1/moqui-stripe/...``, moqui_bridge/component/service/moqui-stripe.rest.xml), whose services run Mantle's
own services, so Moqui writes its rows in its own transactions with its rules, SECAs and audit log. This process never
opens a connection to Moqui's database. Paths Mantle already has (``/rest/s1/mantle/...``) are used as they are.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from moqui_bridge.mantle.side import GatewayRefundRecord, PaymentAuthorization, PaymentRefresh, PlacedOrder
from moqui_bridge.moqui_rest_client import MoquiRestClient

COMPONENT_REST_ROOT = "/rest/s1/moqui-stripe"


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _messages(result: Mapping[str, Any]) -> tuple[str, ...]:
    messages = result.get("messages")
    if isinstance(messages, list):
        return tuple(str(message) for message in messages)
    return (str(messages),) if messages else ()


def _optional_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def moqui_timestamp(moment: datetime) -> str:
    """A Timestamp parameter as Moqui's L10nFacade.parseTimestamp reads it: UTC, ``yyyy-MM-dd HH:mm:ss.SSS``."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment
    return utc.strftime("%Y-%m-%d %H:%M:%S.") + f"{utc.microsecond // 1000:03d}"


@dataclass(frozen=True)
class CheckoutPayment:
    """A PaymentIntent the checkout page has authorized, to record as the order part's Payment (``payment_id``: the
    Payment the page made it for, when the page added one to Moqui first)."""

    order_id: str
    order_part_seq_id: str
    payment_intent_id: str
    payment_gateway_config_id: str
    stripe_payment_method_id: str | None
    amount: Decimal | None
    place_order: bool
    payment_id: str | None = None


@dataclass(frozen=True)
class RecordedCheckoutPayment:
    """What Moqui answered: the Payment, its status, the authorization's response and the order's status."""

    payment_id: str
    payment_status_id: str | None
    payment_gateway_response_id: str | None
    order_status_id: str | None


@dataclass(frozen=True)
class StripeRefund:
    """A refund as Stripe reports it (made in the Dashboard, or failed after it was made)."""

    refund_id: str
    amount: Decimal
    status: str
    created: datetime
    failure_reason: str | None = None


@dataclass(frozen=True)
class StripeDispute:
    """A dispute as Stripe has it when its event is handled."""

    dispute_id: str
    amount: Decimal
    reason: str | None
    status: str
    evidence_due_by: datetime | None
    changed: datetime


class RemoteMantleSide:
    """Calls a Moqui's REST API. A failed call raises the client's ``MoquiRestError``."""

    def __init__(self, client: MoquiRestClient) -> None:
        self._client = client

    async def _component(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        result = await self._client.call(method, COMPONENT_REST_ROOT + path, body=body)
        if not isinstance(result, dict):
            raise ValueError(f"Moqui answered {method} {path} with {type(result).__name__}, not an object")
        return result

    # ----- the component's resources -----

    async def checkout_order(self, order_id: str, default_gateway_config_id: str | None = None) -> dict[str, Any]:
        """What the checkout page needs: GET /orders/{orderId}/checkout (orderHeader, orderParts, payments, and the
        card gateway: paymentGatewayConfigId, the store's or else ``default_gateway_config_id``, and its
        paymentGatewayConfig)."""
        path = f"/orders/{_segment(order_id)}/checkout"
        params = {"paymentGatewayConfigId": default_gateway_config_id} if default_gateway_config_id else None
        result = await self._client.call("GET", COMPONENT_REST_ROOT + path, params=params)
        if not isinstance(result, dict):
            raise ValueError(f"Moqui answered GET {path} with {type(result).__name__}, not an object")
        return result

    async def add_checkout_payment(
        self, order_id: str, order_part_seq_id: str, amount: Decimal, payment_gateway_config_id: str
    ) -> dict[str, Any]:
        """POST /orders/{orderId}/parts/{orderPartSeqId}/payments (add#OrderPartPayment, a Promised card payment
        through the gateway): the Payment as Moqui made it."""
        body = {"amount": amount, "paymentGatewayConfigId": payment_gateway_config_id}
        result = await self._add_payment(order_id, order_part_seq_id, body)
        payment = result.get("payment")
        if not isinstance(payment, dict) or not payment.get("paymentId"):
            raise ValueError(f"Moqui added a checkout payment to order {order_id} without answering the Payment")
        return payment

    async def _add_payment(self, order_id: str, order_part_seq_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        path = f"/orders/{_segment(order_id)}/parts/{_segment(order_part_seq_id)}/payments"
        return await self._component("POST", path, body)

    async def record_checkout_payment(self, payment: CheckoutPayment) -> RecordedCheckoutPayment:
        """POST /orders/{orderId}/parts/{orderPartSeqId}/checkoutPayments: add#OrderPartPayment, authorize#SinglePayment
        (which finds the PaymentIntent authorized) and place#Order when asked; repeating it finds the same Payment."""
        body: dict[str, Any] = {
            "paymentIntentId": payment.payment_intent_id,
            "paymentGatewayConfigId": payment.payment_gateway_config_id,
            "placeOrder": payment.place_order,
        }
        if payment.stripe_payment_method_id:
            body["stripePaymentMethodId"] = payment.stripe_payment_method_id
        if payment.amount is not None:
            body["amount"] = payment.amount
        if payment.payment_id is not None:
            body["paymentId"] = payment.payment_id
        path = f"/orders/{_segment(payment.order_id)}/parts/{_segment(payment.order_part_seq_id)}/checkoutPayments"
        result = await self._component("POST", path, body)
        payment_id = _optional_str(result.get("paymentId"))
        if payment_id is None:
            raise ValueError(f"Moqui recorded the checkout payment of order {payment.order_id} without a paymentId")
        return RecordedCheckoutPayment(
            payment_id,
            _optional_str(result.get("paymentStatusId")),
            _optional_str(result.get("paymentGatewayResponseId")),
            _optional_str(result.get("orderStatusId")),
        )

    async def refresh_payment_status(self, payment_id: str, *, payment_intent_id: str | None = None) -> PaymentRefresh:
        """POST /payments/{paymentId}/gatewayStatus: Mantle's get#SinglePaymentGatewayDetails in Moqui.
        ``payment_intent_id``: an authorization Moqui never heard the answer of, which the component records as the
        Payment's reference (only when it has none) so that Mantle's refresh can read it."""
        body = {"paymentIntentId": payment_intent_id} if payment_intent_id else None
        result = await self._component("POST", f"/payments/{_segment(payment_id)}/gatewayStatus", body)
        return PaymentRefresh(
            payment_id=payment_id,
            status_id=_optional_str(result.get("statusId")),
            payment_gateway_response_id=_optional_str(result.get("paymentGatewayResponseId")),
            refreshed=True,
            messages=_messages(result),
        )

    async def record_stripe_refund(self, payment_id: str, refund: StripeRefund) -> GatewayRefundRecord:
        """POST /payments/{paymentId}/gatewayRefunds: the response and Mantle's refund Payment, once per refund."""
        body = {
            "refundId": refund.refund_id,
            "amount": refund.amount,
            "refundStatus": refund.status,
            "transactionDate": moqui_timestamp(refund.created),
        }
        result = await self._component("POST", f"/payments/{_segment(payment_id)}/gatewayRefunds", body)
        return GatewayRefundRecord(
            payment_id=payment_id,
            refund_payment_id=_optional_str(result.get("refundPaymentId")),
            recorded=True,
            created=result.get("created") is True,
            messages=_messages(result),
        )

    async def record_refund_failure(self, payment_id: str, refund: StripeRefund) -> dict[str, Any]:
        """POST /payments/{paymentId}/gatewayRefunds/{refundId}/failure: a declined response, the refund voided."""
        body = {
            "failureReason": refund.failure_reason or "unknown",
            "transactionDate": moqui_timestamp(refund.created),
        }
        path = f"/payments/{_segment(payment_id)}/gatewayRefunds/{_segment(refund.refund_id)}/failure"
        return await self._component("POST", path, body)

    async def record_dispute(self, payment_id: str, dispute: StripeDispute) -> dict[str, Any]:
        """POST /payments/{paymentId}/disputes: the dispute's state, where an operator sees it in Moqui."""
        body: dict[str, Any] = {
            "disputeId": dispute.dispute_id,
            "amount": dispute.amount,
            "disputeStatus": dispute.status,
            "lastEventDate": moqui_timestamp(dispute.changed),
        }
        if dispute.reason:
            body["reason"] = dispute.reason
        if dispute.evidence_due_by is not None:
            body["evidenceDueDate"] = moqui_timestamp(dispute.evidence_due_by)
        return await self._component("POST", f"/payments/{_segment(payment_id)}/disputes", body)

    # ----- Mantle's own resources (the MantleSide protocol) -----

    async def authorize_payment(self, payment_id: str) -> PaymentAuthorization:
        """POST /rest/s1/mantle/payments/{paymentId}/gateways/authorize, then read the Payment's status back."""
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
        """The component's POST /orders/{orderId}/parts/{orderPartSeqId}/payments (add#OrderPartPayment as a card
        payment), so the service's Moqui user needs no path outside /moqui-stripe."""
        body = {
            key: value
            for key, value in {
                "amount": amount,
                "paymentMethodId": payment_method_id,
                "paymentGatewayConfigId": payment_gateway_config_id,
            }.items()
            if value is not None
        }
        result = await self._add_payment(order_id, order_part_seq_id, body)
        payment_id = result.get("paymentId")
        if not payment_id:
            raise ValueError(f"Moqui answered add#OrderPartPayment for order {order_id} without a paymentId")
        return str(payment_id)

    async def place_order(self, order_id: str) -> PlacedOrder:
        """POST /rest/s1/mantle/orders/{orderId}/place, then read the order's status back."""
        result = await self._client.place_order(order_id)
        order = await self._client.get_order(order_id)
        changed = result.get("statusChanged")
        return PlacedOrder(
            order_id=order_id,
            status_id=_optional_str(order.get("statusId")),
            status_changed=changed if isinstance(changed, bool) else None,
            messages=_messages(result),
        )

    async def record_gateway_refund(
        self, payment_id: str, amount: Decimal, payment_gateway_response_id: str
    ) -> GatewayRefundRecord:
        """The MantleSide protocol's form: a refund whose response a local Mantle already wrote. With a Moqui there
        is no such response here (Moqui writes its own rows): webhooks call :meth:`record_stripe_refund` instead."""
        raise NotImplementedError(
            "with a Moqui, refunds made in Stripe are recorded by record_stripe_refund (from the refund, not a PGR)"
        )
