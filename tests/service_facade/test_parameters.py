"""MoquiParameters cleans, converts and checks in-parameters as Moqui's nestedParameterClean does."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import pytest

from moqui_bridge.service import (
    AllowHtml,
    BigDecimal,
    Boolean,
    Indicator,
    Integer,
    List,
    Map,
    MoquiParameters,
    ParameterError,
    Required,
    String,
    Timestamp,
)

SERVICE = "stripe.StripePaymentServices.authorize#Payment"


class AuthorizeIn(MoquiParameters):
    paymentId: Annotated[str, Required]
    paymentGatewayConfigId: Annotated[str, Required]
    cardSecurityCode: str | None = None
    amount: BigDecimal | None = None


class EverythingIn(MoquiParameters):
    text: String | None = None
    note: Annotated[String | None, AllowHtml] = None
    amount: BigDecimal | None = None
    count: Integer | None = None
    when: Timestamp | None = None
    flag: Boolean = False
    indicator: Indicator | None = None
    details: Map | None = None
    items: List | None = None
    plainWhen: datetime | None = None


def test_moqui_remote_request_parameters_are_converted() -> None:
    parameters = AuthorizeIn.from_moqui(
        {"cardSecurityCode": None, "paymentGatewayConfigId": "DemoStripe", "paymentId": "100000"}, service_name=SERVICE
    )
    assert parameters.paymentId == "100000"
    assert parameters.paymentGatewayConfigId == "DemoStripe"
    assert parameters.cardSecurityCode is None
    assert "cardSecurityCode" in parameters.model_fields_set


def test_undeclared_keys_are_dropped() -> None:
    parameters = AuthorizeIn.from_moqui({"paymentId": "1", "paymentGatewayConfigId": "G", "sneaky": "x", "amount": 5})
    assert "sneaky" not in parameters.to_moqui()
    assert not hasattr(parameters, "sneaky")
    assert parameters.amount == Decimal(5)


@pytest.mark.parametrize("missing", [{}, {"paymentId": None}, {"paymentId": ""}])
def test_required_missing_null_or_empty_is_moqui_error(missing: dict[str, object]) -> None:
    with pytest.raises(ParameterError) as caught:
        AuthorizeIn.from_moqui({"paymentGatewayConfigId": "G", **missing}, service_name=SERVICE)
    assert caught.value.errors_string == (
        "Field cannot be empty (for field Payment ID of service Stripe Payment Services Authorize Payment)\n"
    )


def test_every_problem_is_reported_in_declaration_order() -> None:
    with pytest.raises(ParameterError) as caught:
        AuthorizeIn.from_moqui({"amount": "twelve"}, service_name=SERVICE)
    assert caught.value.messages == (
        "Field cannot be empty (for field Payment ID of service Stripe Payment Services Authorize Payment)",
        "Field cannot be empty (for field Payment Gateway Config ID of service "
        "Stripe Payment Services Authorize Payment)",
        "Value entered (twelve) could not be converted to a BigDecimal "
        "(for field Amount of service Stripe Payment Services Authorize Payment)",
    )
    assert [item.field for item in caught.value.validation_messages] == [
        "paymentId",
        "paymentGatewayConfigId",
        "amount",
    ]


def test_amounts_keep_their_scale() -> None:
    assert str(EverythingIn.from_moqui({"amount": "12.50"}).amount) == "12.50"
    assert str(EverythingIn.from_moqui({"amount": Decimal("100.0000")}).amount) == "100.0000"


def test_every_type_converts() -> None:
    parameters = EverythingIn.from_moqui(
        {
            "text": 100000,
            "note": "<b>ok</b>",
            "amount": Decimal("12.5"),
            "count": "3",
            "when": "2024-01-02 10:11",
            "flag": "Y",
            "indicator": "N",
            "details": {"a": 1},
            "items": "[x,y]",
            "plainWhen": 1704190272345,
        }
    )
    assert parameters.text == "100000"
    assert parameters.note == "<b>ok</b>"
    assert parameters.amount == Decimal("12.5")
    assert parameters.count == 3
    assert parameters.when == datetime(2024, 1, 2, 10, 11)
    assert parameters.flag is True
    assert parameters.indicator == "N"
    assert parameters.details == {"a": 1}
    assert parameters.items == ["x", "y"]
    assert parameters.plainWhen == datetime(2024, 1, 2, 10, 11, 12, 345000)


def test_html_is_refused_unless_allowed() -> None:
    with pytest.raises(ParameterError) as caught:
        EverythingIn.from_moqui({"text": "<script>"}, service_name="x.Y.do#It")
    assert caught.value.messages == (
        "HTML not allowed including less-than (<), greater-than (>), etc symbols (for field Text of service X Y Do It)",
    )


def test_empty_values_for_other_types_become_null_and_explicit_null_is_kept() -> None:
    parameters = EverythingIn.from_moqui({"amount": "", "text": "", "when": None, "flag": None})
    assert parameters.amount is None
    assert parameters.text == ""
    assert parameters.when is None
    assert {"amount", "text", "when"} <= parameters.model_fields_set
    # flag cannot hold None, so an explicit null leaves its default
    assert parameters.flag is False


def test_float_reaching_the_model_is_refused() -> None:
    with pytest.raises(ParameterError, match="could not be converted to a BigDecimal"):
        EverythingIn.from_moqui({"amount": 12.5})


def test_model_validate_converts_too() -> None:
    parameters = EverythingIn.model_validate({"amount": "1.10", "when": "1704190272345", "flag": "N"})
    assert parameters.amount == Decimal("1.10")
    assert parameters.when == datetime(2024, 1, 2, 10, 11, 12, 345000)
    assert parameters.flag is False


def test_out_parameters_dump_with_moqui_names_and_nulls() -> None:
    dumped = EverythingIn(amount=Decimal("3.00"), when=datetime(2024, 1, 2)).to_moqui()
    assert dumped["amount"] == Decimal("3.00")
    assert dumped["when"] == datetime(2024, 1, 2)
    assert dumped["text"] is None
    assert list(dumped) == list(EverythingIn.model_fields)


def test_timestamp_json_mode_is_epoch_millis() -> None:
    dumped = EverythingIn(when=datetime(2024, 1, 2, 10, 11, 12, 345000)).model_dump(mode="json")
    assert dumped["when"] == 1704190272345


def test_unsupported_annotation_fails_at_definition() -> None:
    with pytest.raises(TypeError, match="no Moqui type"):

        class Broken(MoquiParameters):
            value: set[str] | None = None
