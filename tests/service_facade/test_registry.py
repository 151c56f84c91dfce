"""ServiceRegistry registers services by Moqui name, lists their parameters and calls them as Moqui does."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

import pytest

from moqui_bridge.service import (
    BigDecimal,
    Indicator,
    MoquiParameters,
    ParameterError,
    ParameterInfo,
    Required,
    ServiceError,
    ServiceNotFound,
    ServiceRegistry,
    Timestamp,
)


@dataclass
class Context:
    calls: list[str]


class CaptureIn(MoquiParameters):
    paymentId: Annotated[str, Required]
    amount: Annotated[BigDecimal, Required]


class CaptureOut(MoquiParameters):
    paymentGatewayResponseId: str | None = None
    amount: BigDecimal | None = None
    resultSuccess: Indicator | None = None
    transactionDate: Timestamp | None = None


def make_registry() -> ServiceRegistry[Context]:
    registry: ServiceRegistry[Context] = ServiceRegistry()

    @registry.service(
        "test.PaymentServices.capture#Payment",
        CaptureIn,
        CaptureOut,
        allow_remote=True,
        implements="mantle.account.PaymentServices.capture#Payment",
        description="Capture for tests",
    )
    async def capture(parameters: CaptureIn, context: Context) -> CaptureOut:
        context.calls.append(parameters.paymentId)
        if parameters.amount <= 0:
            raise ServiceError(["Amount must be positive", "Nothing was captured"])
        return CaptureOut(paymentGatewayResponseId="100000", amount=parameters.amount, resultSuccess="Y")

    return registry


async def test_call_converts_runs_and_dumps() -> None:
    registry = make_registry()
    context = Context(calls=[])
    result = await registry.call(
        "test.PaymentServices.capture#Payment", {"paymentId": 100000, "amount": "100.0000", "extra": 1}, context
    )
    assert context.calls == ["100000"]
    assert result == {
        "paymentGatewayResponseId": "100000",
        "amount": Decimal("100.0000"),
        "resultSuccess": "Y",
        "transactionDate": None,
    }
    assert str(result["amount"]) == "100.0000"


async def test_call_refuses_bad_parameters_before_running() -> None:
    registry = make_registry()
    context = Context(calls=[])
    with pytest.raises(ParameterError) as caught:
        await registry.call("test.PaymentServices.capture#Payment", {"paymentId": "1"}, context)
    assert caught.value.errors_string == (
        "Field cannot be empty (for field Amount of service Test Payment Services Capture Payment)\n"
    )
    assert context.calls == []


async def test_service_error_messages_join_like_moqui() -> None:
    registry = make_registry()
    with pytest.raises(ServiceError) as caught:
        await registry.call("test.PaymentServices.capture#Payment", {"paymentId": "1", "amount": 0}, Context([]))
    assert caught.value.errors_string == "Amount must be positive\nNothing was captured\n"


async def test_unknown_service() -> None:
    with pytest.raises(ServiceNotFound, match=r"Unknown service \[test.Nope.do#It\]"):
        await make_registry().call("test.Nope.do#It", {}, Context([]))


def test_definition_lists_parameters_for_contract_tests() -> None:
    registry = make_registry()
    definition = registry.require("test.PaymentServices.capture#Payment")
    assert definition.path == "test.PaymentServices"
    assert definition.verb == "capture"
    assert definition.noun == "Payment"
    assert definition.implements == "mantle.account.PaymentServices.capture#Payment"
    assert definition.allow_remote is True
    assert definition.authenticate is True
    assert definition.in_model is CaptureIn
    assert definition.in_parameters == (
        ParameterInfo("paymentId", "String", True),
        ParameterInfo("amount", "BigDecimal", True),
    )
    assert [(p.name, p.type, p.required) for p in definition.out_parameters] == [
        ("paymentGatewayResponseId", "String", False),
        ("amount", "BigDecimal", False),
        ("resultSuccess", "String", False),
        ("transactionDate", "Timestamp", False),
    ]
    assert [d.name for d in registry.definitions()] == ["test.PaymentServices.capture#Payment"]
    assert "test.PaymentServices.capture#Payment" in registry
    assert len(registry) == 1


def test_names_must_be_moqui_names_and_unique() -> None:
    registry = make_registry()
    with pytest.raises(ValueError, match="already registered"):
        registry.service("test.PaymentServices.capture#Payment", CaptureIn, CaptureOut, allow_remote=False)(
            _never_called
        )
    with pytest.raises(ValueError, match="not a Moqui service name"):
        registry.service("capture payment", CaptureIn, CaptureOut, allow_remote=False)(_never_called)


async def _never_called(parameters: CaptureIn, context: Context) -> CaptureOut:
    raise AssertionError("not called")
