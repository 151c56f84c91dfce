"""GatewayOutcome -> one mantle.account.method.PaymentGatewayResponse row, the record Mantle reads after every call.

Mantle's generic services re-read the row by the id we answer with and set the Payment's status from its flags, so
all six result indicators are always written (Y or N), and the row is committed before we answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

from moqui_bridge.entity import EntityFacade
from moqui_bridge.entity.connection import Connection
from service.payment_services.payment_subject import PaymentSubject
from service.stripe_gateway.outcome import GatewayOutcome

__all__ = ["PAYMENT_GATEWAY_RESPONSE", "write_response"]

PAYMENT_GATEWAY_RESPONSE: Final = "mantle.account.method.PaymentGatewayResponse"


async def write_response(
    entity: EntityFacade,
    subject: PaymentSubject,
    payment_operation_enum_id: str,
    outcome: GatewayOutcome,
    *,
    requested_amount: Decimal | None,
    connection: Connection | None = None,
) -> str:
    """Insert the PGR for one operation on the subject's payment and return its id.

    The amount is what Stripe reports for the operation (authorized, captured, refunded) when it says, else the
    amount we asked for; the currency is always the Payment's (the services check Stripe's echo against it).
    """
    values: dict[str, object] = dict(outcome.response_fields())
    values.update(
        {
            "paymentGatewayConfigId": subject.payment_gateway_config_id,
            "paymentOperationEnumId": payment_operation_enum_id,
            "paymentId": subject.payment_id,
            "paymentMethodId": subject.payment.get("paymentMethodId"),
            "amount": outcome.amount if outcome.amount is not None else requested_amount,
            "amountUomId": subject.currency,
            "transactionDate": datetime.now(UTC).replace(tzinfo=None),
        }
    )
    created = await entity.create(PAYMENT_GATEWAY_RESPONSE, values, connection=connection)
    return str(created["paymentGatewayResponseId"])
