"""Fixtures: a test context over a fresh seeded database, with the Mantle rules and the test gateways registered."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest

from moqui_bridge.entity import EntityFacade
from moqui_bridge.mantle.order_rules import register_order_rules
from moqui_bridge.mantle.payment_rules import register_payment_rules
from moqui_bridge.service.registry import ServiceRegistry
from tests.mantle.gateway_services import MantleTestContext, create_gateway_configs, register_test_gateway

PAYMENT = "mantle.account.payment.Payment"


@pytest.fixture(scope="session")
def mantle_registry() -> ServiceRegistry[MantleTestContext]:
    """The Mantle payment and order rules plus the test gateway services."""
    registry: ServiceRegistry[MantleTestContext] = ServiceRegistry()
    register_payment_rules(registry)
    register_order_rules(registry)
    register_test_gateway(registry)
    return registry


@pytest.fixture
async def context(
    entity_facade: EntityFacade, mantle_registry: ServiceRegistry[MantleTestContext]
) -> MantleTestContext:
    """A MantleContext on a fresh database holding the test gateway configs."""
    await create_gateway_configs(entity_facade)
    return MantleTestContext(entity_facade, mantle_registry)


class PaymentMaker:
    """Creates the records a payment test starts from."""

    def __init__(self, entity: EntityFacade) -> None:
        self.entity = entity

    async def method(self, **fields: Any) -> str:
        """A credit-card PaymentMethod of the customer; returns its id."""
        record = await self.entity.create(
            "mantle.account.method.PaymentMethod",
            {"paymentMethodTypeEnumId": "PmtCreditCard", "ownerPartyId": "CUSTOMER", "gatewayCimId": "pm_x", **fields},
        )
        return str(record["paymentMethodId"])

    async def payment(
        self, status: str = "PmntPromised", amount: Decimal | None = Decimal("100.00"), **fields: Any
    ) -> str:
        """A customer-to-vendor card payment with a payment method; returns its id."""
        if "paymentMethodId" not in fields:
            fields["paymentMethodId"] = await self.method()
        record = await self.entity.create(
            PAYMENT,
            {
                "paymentTypeEnumId": "PtInvoicePayment",
                "paymentInstrumentEnumId": "PiCreditCard",
                "fromPartyId": "CUSTOMER",
                "toPartyId": "VENDOR",
                "toPaymentMethodId": "VENDOR_ACCOUNT",
                "statusId": status,
                "amount": amount,
                "amountUomId": "USD",
                **fields,
            },
        )
        return str(record["paymentId"])

    async def get(self, payment_id: str) -> Mapping[str, Any]:
        """The Payment as stored now."""
        payment = await self.entity.find_one(PAYMENT, {"paymentId": payment_id})
        assert payment is not None
        return payment


@pytest.fixture
def make(context: MantleTestContext) -> PaymentMaker:
    """Record maker on the test's database."""
    return PaymentMaker(context.entity)
