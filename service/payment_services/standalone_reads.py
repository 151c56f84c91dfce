"""What the standalone client reads from the local Mantle tables before it calls the gateway API, in one statement.

The component reads the same in Moqui (moqui_bridge/component): the Payment; its PaymentMethod's `gatewayCimId`;
the Stripe Customer of the method's owner, else of the payer (`stripe.StripeCustomer`); the count of definitive
PaymentGatewayResponses of the operation's kind (`attemptNum`, docs/gateway-api.md); and the PaymentIntent the
payment is on: `Payment.paymentRefNum`, else (for an operation on an authorization) the newest successful
authorization PGR's `referenceNum`, else the newest PaymentIntent link of the client's not canceled (else the newest).

A link made by the very attempt being sent (an authorization whose answer Mantle never recorded: the rule died or
rolled back after Stripe answered) is not named: the attempt's first request named no PaymentIntent, and its retry
must ask the same to be answered from the journal. The component reads Moqui's own tables only, which roll back with
the PGR, so it needs no such rule.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Final

from moqui_bridge.entity import EntityFacade, EntityRegistry
from moqui_bridge.entity.connection import Connection
from moqui_bridge.entity.values import from_database
from moqui_bridge.mantle import names
from moqui_bridge.service import ServiceError
from service.payment_services.intent_link import PAYMENT_INTENT_LINK
from service.payment_services.journal import GATEWAY_OPERATION

__all__ = ["LocalPayment", "local_payment_statement", "read_local_payment"]

STRIPE_CUSTOMER: Final = "stripe.StripeCustomer"
_AUTHORIZATIONS: Final = ("PgoAuthorize", "PgoAuthAndCapture")
_CANCELED: Final = "canceled"
_INTENT_PREFIX: Final = "pi_"
# The Payment's fields the gateway call and its PGR need (the whole row is 45 columns).
PAYMENT_FIELDS: Final = (
    "paymentId",
    "paymentMethodId",
    "statusId",
    "amount",
    "amountUomId",
    "orderId",
    "orderPartSeqId",
    "paymentRefNum",
)


@dataclass(frozen=True)
class LocalPayment:
    """A local Payment (its PAYMENT_FIELDS) and what the gateway API is called with for it."""

    payment: dict[str, Any]
    stripe_payment_method_id: str | None
    stripe_customer_id: str | None
    attempt_num: int
    payment_intent_id: str | None


@functools.cache
def local_payment_statement(registry: EntityRegistry) -> str:
    """read_local_payment's one statement ($1 payment, $2 config, $3 counted PGR operations, $4 acts on an
    authorization, $5 client, $6 the journal's operation names); built once per registry, as the text never changes."""
    payment = registry.get(names.PAYMENT)
    columns = ", ".join(f"p.{payment.field(name).column_name}" for name in PAYMENT_FIELDS)
    responses = registry.get(names.GATEWAY_RESPONSE).table_name
    links = registry.get(PAYMENT_INTENT_LINK).table_name
    journal = registry.get(GATEWAY_OPERATION).table_name
    customers = registry.get(STRIPE_CUSTOMER).table_name
    # Written so that young statistics (a new database, a busy first minute) cannot pick a plan that reads a whole
    # table: the attempts are counted with the operation inside the aggregate, so PAYMENT_ID is their only indexed
    # condition (else the planner may walk the operation's fk index over every PGR of that operation); and the link
    # is looked up only when neither the Payment nor its authorization names a PaymentIntent (CASE runs its
    # subquery lazily), so a capture, release or refund never plans the anti-join against the journal.
    return (
        f"WITH attempts AS (SELECT count(*) FILTER (WHERE r.PAYMENT_OPERATION_ENUM_ID = ANY($3::text[]) "
        f"AND r.RESULT_ERROR IS DISTINCT FROM 'Y') AS made FROM {responses} r WHERE r.PAYMENT_ID = $1) "
        f"SELECT {columns}, NULLIF(method.GATEWAY_CIM_ID, ''), "
        "COALESCE(NULLIF(owner.CUSTOMER_ID, ''), NULLIF(payer.CUSTOMER_ID, '')), "
        "(SELECT made FROM attempts), authorization_pgr.REFERENCE_NUM, "
        f"CASE WHEN starts_with(p.PAYMENT_REF_NUM, '{_INTENT_PREFIX}') "
        f"OR starts_with(authorization_pgr.REFERENCE_NUM, '{_INTENT_PREFIX}') THEN NULL ELSE "
        f"(SELECT link.PAYMENT_INTENT_ID FROM {links} link WHERE link.CLIENT_NAME = $5 "
        f"AND link.PAYMENT_ID = p.PAYMENT_ID AND NOT EXISTS (SELECT 1 FROM {journal} made_by "
        "WHERE made_by.OPERATION_ID = link.OPERATION_ID AND made_by.OPERATION_NAME = ANY($6::text[]) "
        "AND made_by.ATTEMPT_NUM >= (SELECT made FROM attempts)) "
        f"ORDER BY link.INTENT_STATUS IS NOT DISTINCT FROM '{_CANCELED}', "
        "link.CREATED_DATE DESC LIMIT 1) END "
        f"FROM {payment.table_name} p "
        f"LEFT JOIN {registry.get(names.PAYMENT_METHOD).table_name} method "
        "ON method.PAYMENT_METHOD_ID = p.PAYMENT_METHOD_ID "
        f"LEFT JOIN {customers} owner ON owner.PARTY_ID = NULLIF(method.OWNER_PARTY_ID, '') "
        "AND owner.PAYMENT_GATEWAY_CONFIG_ID = $2 "
        f"LEFT JOIN {customers} payer ON payer.PARTY_ID = NULLIF(p.FROM_PARTY_ID, '') "
        "AND payer.PAYMENT_GATEWAY_CONFIG_ID = $2 "
        f"LEFT JOIN LATERAL (SELECT r.REFERENCE_NUM FROM {responses} r WHERE $4 AND r.PAYMENT_ID = p.PAYMENT_ID "
        f"AND r.PAYMENT_OPERATION_ENUM_ID IN ('{_AUTHORIZATIONS[0]}', '{_AUTHORIZATIONS[1]}') "
        "AND r.RESULT_SUCCESS = 'Y' ORDER BY r.TRANSACTION_DATE DESC LIMIT 1) authorization_pgr ON true "
        "WHERE p.PAYMENT_ID = $1"
    )


async def read_local_payment(
    entity: EntityFacade,
    payment_id: str,
    payment_gateway_config_id: str,
    *,
    client_name: str,
    counted: Collection[str],
    attempted_by: Collection[str] = (),
    authorized: bool,
    connection: Connection | None,
) -> LocalPayment:
    """The Payment (its PAYMENT_FIELDS) and its gateway inputs; `counted`: the PGR operations that count as
    attempts (none for details); `attempted_by`: the journal's names of the operation (authorize ...), whose attempts
    not yet counted made PaymentIntents not to be named; `authorized`: the operation acts on an authorization (so its
    PGR names the PaymentIntent). A ServiceError when there is no such Payment."""
    definition = entity.definition(names.PAYMENT)
    fields = [definition.field(name) for name in PAYMENT_FIELDS]
    async with entity.using(connection) as active:
        row = await active.fetchrow(
            local_payment_statement(entity.registry),
            payment_id,
            payment_gateway_config_id,
            list(counted),
            authorized,
            client_name,
            list(attempted_by),
        )
    if row is None:
        raise ServiceError(f"Payment {payment_id} not found")
    values = tuple(row)
    payment = {field.name: from_database(field, value) for field, value in zip(fields, values, strict=False)}
    method_id, customer_id, attempts, authorization_reference, linked_intent = values[len(fields) :]
    reference = payment.get("paymentRefNum")
    intent_id = next(
        (
            candidate
            for candidate in (reference, authorization_reference)
            if isinstance(candidate, str) and candidate.startswith(_INTENT_PREFIX)
        ),
        linked_intent,
    )
    return LocalPayment(payment, method_id, customer_id, int(attempts), intent_id)
