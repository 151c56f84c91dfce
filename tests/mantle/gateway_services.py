"""Test gateway implementations of Mantle's payment interfaces, in the spirit of Mantle's PaymentTestServices.

They are real implementations: each writes a PaymentGatewayResponse and answers its id, exactly as a gateway
component must. Which answer a gateway gives is fixed by the PaymentGatewayConfig that names it, so a test picks a
behaviour by picking a config. `GatewayMemory` remembers what each call received, so tests can check the in-maps the
rules pass, and holds the "gateway-side" status the details service reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle.context import RuleTransaction, now_timestamp
from moqui_bridge.service.errors import ServiceError
from moqui_bridge.service.parameter_types import BigDecimal, Required, Timestamp
from moqui_bridge.service.registry import MoquiParameters, ServiceRegistry
from service.mantle_rule_lease import rule_lease
from service.stripe_gateway.deadline import Deadline

PREFIX = "test.PaymentTestServices."
# The service's default request deadline (service/config.py server.request_deadline_seconds).
RULE_DEADLINE_SECONDS = 20.0


@dataclass
class GatewayMemory:
    """The test gateway's own memory: calls received and the status its details service reports per payment."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    settlement_dates: dict[str, Any] = field(default_factory=dict)

    def calls_to(self, verb_noun: str) -> list[dict[str, Any]]:
        """The parameters of every call to the test service `<verb>#<Noun>`."""
        return [parameters for name, parameters in self.calls if name == PREFIX + verb_noun]


@dataclass
class MantleTestContext:
    """A MantleContext for the tests: the entity facade, the registry to call through, and the test gateway."""

    entity: EntityFacade
    registry: ServiceRegistry[MantleTestContext]
    gateway: GatewayMemory = field(default_factory=GatewayMemory)

    async def call_service(
        self, name: str, parameters: Mapping[str, Any], *, transaction: RuleTransaction | None = None
    ) -> dict[str, Any]:
        """Call a registered service with this context, as Moqui's ec.service.sync() does (the test gateways
        record their PGRs on their own connections, so the caller's transaction is not needed)."""
        return await self.registry.call(name, parameters, self)

    def rule_lease(self, kind: str, record_id: str) -> AbstractAsyncContextManager[None]:
        """The service's own rule lease (service/mantle_rule_lease.py), with a request's deadline and no liveness
        key (only its expiry frees a dead holder's lease)."""
        return rule_lease(self.entity, kind, record_id, Deadline.after(RULE_DEADLINE_SECONDS), holder_key=0)


class AuthorizeIn(MoquiParameters):
    paymentId: Annotated[str, Required]
    paymentGatewayConfigId: Annotated[str, Required]
    cardSecurityCode: str | None = None


class AmountIn(MoquiParameters):
    paymentId: Annotated[str, Required]
    paymentGatewayConfigId: Annotated[str, Required]
    amount: BigDecimal | None = None


class PaymentIn(MoquiParameters):
    paymentId: Annotated[str, Required]
    paymentGatewayConfigId: Annotated[str, Required]


class ResponseOut(MoquiParameters):
    paymentGatewayResponseId: str | None = None


class DetailsOut(MoquiParameters):
    paymentGatewayResponseId: str | None = None
    gatewayStatusId: str | None = None
    effectiveDate: Timestamp | None = None
    settlementDate: Timestamp | None = None


_ALL_NO = {"resultSuccess": "N", "resultDeclined": "N", "resultError": "N", "resultNsf": "N"}
_OUTCOMES: dict[str, dict[str, str]] = {
    "approve": {**_ALL_NO, "resultSuccess": "Y"},
    "decline": {**_ALL_NO, "resultDeclined": "Y"},
    "nsf": {**_ALL_NO, "resultNsf": "Y"},
    "error": {**_ALL_NO, "resultError": "Y"},
}


async def _write_response(
    context: MantleTestContext,
    parameters: AuthorizeIn | AmountIn | PaymentIn,
    operation: str,
    outcome: str,
    amount: Decimal | None = None,
) -> str:
    payment_id = parameters.paymentId
    payment = await context.entity.find_one("mantle.account.payment.Payment", {"paymentId": payment_id})
    if payment is None:
        raise ServiceError(f"Test gateway: Payment {payment_id} not found")
    response_id = await context.entity.sequenced_id("mantle.account.method.PaymentGatewayResponse")
    await context.entity.create(
        "mantle.account.method.PaymentGatewayResponse",
        {
            "paymentGatewayResponseId": response_id,
            "paymentGatewayConfigId": parameters.paymentGatewayConfigId,
            "paymentOperationEnumId": operation,
            "paymentId": payment_id,
            "paymentMethodId": payment["paymentMethodId"],
            "amount": amount if amount is not None else payment["amount"],
            "amountUomId": payment["amountUomId"],
            "referenceNum": f"TEST-{operation}-{response_id}",
            "approvalCode": "OK" if outcome == "approve" else None,
            "transactionDate": now_timestamp(),
            "resultBadExpire": "N",
            "resultBadCardNumber": "N",
            **_OUTCOMES[outcome],
        },
    )
    return response_id


def register_test_gateway(registry: ServiceRegistry[MantleTestContext]) -> None:
    """Register the test implementations: `<outcome>#<Operation>` for every outcome and operation used."""

    def remember(name: str, parameters: MoquiParameters, context: MantleTestContext) -> None:
        context.gateway.calls.append((name, parameters.model_dump()))

    def authorize(outcome: str, operation: str = "PgoAuthorize") -> None:
        name = f"{PREFIX}{outcome}#{'AuthorizeAndCapture' if operation == 'PgoAuthAndCapture' else 'Authorize'}"

        @registry.service(name, AuthorizeIn, ResponseOut, allow_remote=False)
        async def run(parameters: AuthorizeIn, context: MantleTestContext) -> ResponseOut:
            remember(name, parameters, context)
            return ResponseOut(paymentGatewayResponseId=await _write_response(context, parameters, operation, outcome))

    def with_amount(outcome: str, noun: str, operation: str) -> None:
        name = f"{PREFIX}{outcome}#{noun}"

        @registry.service(name, AmountIn, ResponseOut, allow_remote=False)
        async def run(parameters: AmountIn, context: MantleTestContext) -> ResponseOut:
            remember(name, parameters, context)
            response_id = await _write_response(context, parameters, operation, outcome, parameters.amount)
            return ResponseOut(paymentGatewayResponseId=response_id)

    for outcome in _OUTCOMES:
        authorize(outcome)
    authorize("approve", "PgoAuthAndCapture")
    for outcome in ("approve", "decline"):
        with_amount(outcome, "Capture", "PgoCapture")
        with_amount(outcome, "Refund", "PgoRefund")

    @registry.service(PREFIX + "approve#Release", PaymentIn, ResponseOut, allow_remote=False)
    async def release(parameters: PaymentIn, context: MantleTestContext) -> ResponseOut:
        remember(PREFIX + "approve#Release", parameters, context)
        return ResponseOut(paymentGatewayResponseId=await _write_response(context, parameters, "PgoRelease", "approve"))

    @registry.service(PREFIX + "fail#Authorize", AuthorizeIn, ResponseOut, allow_remote=False)
    async def fail(parameters: AuthorizeIn, context: MantleTestContext) -> ResponseOut:
        # A bad request as the gateway sees it: the whole call must roll back.
        remember(PREFIX + "fail#Authorize", parameters, context)
        raise ServiceError("Test gateway refused the request")

    @registry.service(PREFIX + "unanswered#Authorize", AuthorizeIn, ResponseOut, allow_remote=False)
    async def unanswered(parameters: AuthorizeIn, context: MantleTestContext) -> ResponseOut:
        # Writes its PGR but forgets to answer the id: the caller must find the PGR by payment method.
        remember(PREFIX + "unanswered#Authorize", parameters, context)
        await _write_response(context, parameters, "PgoAuthorize", "approve")
        return ResponseOut()

    @registry.service(PREFIX + "silent#Authorize", AuthorizeIn, ResponseOut, allow_remote=False)
    async def silent(parameters: AuthorizeIn, context: MantleTestContext) -> ResponseOut:
        # A broken implementation that leaves no PGR at all.
        remember(PREFIX + "silent#Authorize", parameters, context)
        return ResponseOut()

    @registry.service(PREFIX + "state#Details", PaymentIn, DetailsOut, allow_remote=False)
    async def details(parameters: PaymentIn, context: MantleTestContext) -> DetailsOut:
        remember(PREFIX + "state#Details", parameters, context)
        status = context.gateway.statuses.get(parameters.paymentId)
        if status is None:
            return DetailsOut()
        response_id = await _write_response(context, parameters, "PgoTxDetails", "approve")
        return DetailsOut(
            paymentGatewayResponseId=response_id,
            gatewayStatusId=status,
            settlementDate=context.gateway.settlement_dates.get(parameters.paymentId),
        )


# Gateway configs: id -> service names by operation (an absent operation is an empty *ServiceName).
GATEWAY_CONFIGS: dict[str, dict[str, str]] = {
    "TEST_APPROVE": {
        "authorize": "approve#Authorize",
        "capture": "approve#Capture",
        "release": "approve#Release",
        "refund": "approve#Refund",
    },
    "TEST_DETAILS": {
        "authorize": "approve#Authorize",
        "capture": "approve#Capture",
        "release": "approve#Release",
        "refund": "approve#Refund",
        "details": "state#Details",
    },
    "TEST_AUTH_CAPTURE": {"authorize": "approve#AuthorizeAndCapture", "refund": "approve#Refund"},
    "TEST_DECLINE": {
        "authorize": "decline#Authorize",
        "capture": "decline#Capture",
        "release": "approve#Release",
        "refund": "decline#Refund",
    },
    "TEST_NSF": {"authorize": "nsf#Authorize"},
    "TEST_ERROR": {"authorize": "error#Authorize"},
    "TEST_FAIL": {"authorize": "fail#Authorize"},
    "TEST_UNANSWERED": {"authorize": "unanswered#Authorize"},
    "TEST_SILENT": {"authorize": "silent#Authorize"},
    "TEST_EMPTY": {},
    "FinancialAccountLocal": {"authorize": "approve#Authorize", "capture": "approve#Capture"},
}


async def create_gateway_configs(entity: EntityFacade) -> None:
    """Store the PaymentGatewayConfig rows naming the test services."""
    for config_id, services in GATEWAY_CONFIGS.items():
        await entity.create(
            "mantle.account.method.PaymentGatewayConfig",
            {
                "paymentGatewayConfigId": config_id,
                "paymentGatewayTypeEnumId": "PgtTest",
                "description": f"Test gateway {config_id}",
                **{f"{operation}ServiceName": PREFIX + service for operation, service in services.items()},
            },
        )
