"""Stand-ins for the Mantle services the component's REST services call, for the interpreter.

Mantle's own XML actions go far beyond the interpreter's subset, so these few are written out in Python, each doing
what the cited Mantle service does to the rows the tests look at (mantle-usl at the commit in
tests/reference/moqui-reference/SOURCES.md; PaymentServices.xml is vendored there, OrderServices.xml is
service/mantle/order/OrderServices.xml upstream). Every call is recorded, in order, in ``MoquiRun.calls``.
What they leave out is said in each docstring.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.moqui_harness.expressions import GroovyError
from tests.moqui_harness.xml_actions import MantleService, MoquiRun, XmlActions

PAYMENT = "mantle.account.payment.Payment"
PGR = "mantle.account.method.PaymentGatewayResponse"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


async def _record(run: MoquiRun, name: str, parameters: Mapping[str, Any]) -> None:
    run.calls.append((name, {k: v for k, v in parameters.items() if v is not None}))


async def add_order_part_payment(actions: XmlActions, parameters: Mapping[str, Any], run: MoquiRun) -> dict[str, Any]:
    """OrderServices.xml add#OrderPartPayment (945-990): a Promised invoice Payment from the part's customer to its
    vendor in the order's currency, amount defaulting to the part's total (the bill-to party and settlement terms
    are left out)."""
    await _record(run, "mantle.order.OrderServices.add#OrderPartPayment", parameters)
    facade = actions.facade
    key = {"orderId": parameters["orderId"], "orderPartSeqId": parameters["orderPartSeqId"]}
    part = await facade.find_one("mantle.order.OrderPart", key, connection=run.connection)
    header = await facade.find_one("mantle.order.OrderHeader", {"orderId": key["orderId"]}, connection=run.connection)
    if part is None or header is None:
        raise GroovyError(f"order part {key} not found")
    given = {k: v for k, v in parameters.items() if v is not None and actions.registry.get(PAYMENT).has_field(k)}
    payment = await facade.create(
        PAYMENT,
        {
            "paymentTypeEnumId": "PtInvoicePayment",
            "statusId": "PmntPromised",
            **given,
            "amount": parameters.get("amount") or part["partTotal"],
            "amountUomId": header["currencyUomId"],
            "fromPartyId": part["customerPartyId"],
            "toPartyId": part["vendorPartyId"],
        },
        connection=run.connection,
    )
    return {"paymentId": payment["paymentId"]}


async def authorize_single_payment(
    actions: XmlActions, parameters: Mapping[str, Any], run: MoquiRun
) -> dict[str, Any] | None:
    """PaymentServices.xml authorize#SinglePayment (1391-1494): run the config's authorizeServiceName (the component's
    service, through the interpreter), then Authorized (paymentRefNum, paymentAuthCode from the response) and, for
    PgoAuthAndCapture, Delivered; Declined on a declined response. Zero amounts and financial accounts left out."""
    await _record(run, "mantle.account.PaymentServices.authorize#SinglePayment", parameters)
    facade = actions.facade
    payment = await facade.find_one(PAYMENT, {"paymentId": parameters["paymentId"]}, connection=run.connection)
    if payment is None:
        return {"paymentGatewayResponseId": None}
    if payment["statusId"] == "PmntDelivered":
        return {"paymentGatewayResponseId": None}
    config_id = parameters.get("paymentGatewayConfigId") or payment["paymentGatewayConfigId"]
    config = await facade.find_one(
        "mantle.account.method.PaymentGatewayConfig", {"paymentGatewayConfigId": config_id}, connection=run.connection
    )
    if config is None or not config["authorizeServiceName"]:
        return {"paymentGatewayResponseId": None}
    out = await actions.call(
        config["authorizeServiceName"], {"paymentId": payment["paymentId"], "paymentGatewayConfigId": config_id}, run
    )
    if run.errors or out is None:
        return None
    response = await facade.find_one(
        PGR, {"paymentGatewayResponseId": out["paymentGatewayResponseId"]}, connection=run.connection
    )
    if response is not None and response["resultSuccess"] == "Y":
        await actions.call(
            f"update#{PAYMENT}",
            {
                "paymentId": payment["paymentId"],
                "statusId": "PmntAuthorized",
                "paymentGatewayConfigId": config_id,
                "paymentAuthCode": response["approvalCode"],
                "paymentRefNum": response["referenceNum"],
            },
            run,
        )
        if response["paymentOperationEnumId"] == "PgoAuthAndCapture":
            await actions.call(
                f"update#{PAYMENT}",
                {
                    "paymentId": payment["paymentId"],
                    "statusId": "PmntDelivered",
                    "effectiveDate": payment["effectiveDate"] or _now(),
                },
                run,
            )
    elif response is not None and response["resultDeclined"] == "Y":
        await actions.call(
            f"update#{PAYMENT}",
            {"paymentId": payment["paymentId"], "statusId": "PmntDeclined", "paymentGatewayConfigId": config_id},
            run,
        )
    return {"paymentGatewayResponseId": out["paymentGatewayResponseId"]}


async def place_order(actions: XmlActions, parameters: Mapping[str, Any], run: MoquiRun) -> dict[str, Any]:
    """OrderServices.xml place#Order: the order and its parts to OrderPlaced (the status-flow check included);
    the reservation, the SECA that authorizes payments and the notifications are left out."""
    await _record(run, "mantle.order.OrderServices.place#Order", parameters)
    header = await actions.facade.find_one(
        "mantle.order.OrderHeader", {"orderId": parameters["orderId"]}, connection=run.connection
    )
    if header is None:
        raise GroovyError(f"Order {parameters['orderId']} not found")
    changed = header["statusId"] != "OrderPlaced"
    if changed:
        await actions.call(
            "update#mantle.order.OrderHeader", {"orderId": header["orderId"], "statusId": "OrderPlaced"}, run
        )
    return {"statusChanged": changed, "oldStatusId": header["statusId"]}


async def create_refund_payment(actions: XmlActions, parameters: Mapping[str, Any], run: MoquiRun) -> dict[str, Any]:
    """PaymentServices.xml create#RefundPayment (638-700): a PtRefund Payment from the original's receiver to its
    payer, refundForPaymentId set; the PaymentApplication of a Delivered refund is left out."""
    await _record(run, "mantle.account.PaymentServices.create#RefundPayment", parameters)
    original = await actions.facade.find_one(PAYMENT, {"paymentId": parameters["paymentId"]}, connection=run.connection)
    if original is None:
        raise GroovyError(f"Payment {parameters['paymentId']} not found")
    amount: Decimal = parameters.get("amount") or original["amount"]
    refund = await actions.facade.create(
        PAYMENT,
        {
            "paymentTypeEnumId": "PtRefund",
            "statusId": parameters.get("statusId") or "PmntPromised",
            "fromPartyId": original["toPartyId"],
            "toPartyId": original["fromPartyId"],
            "amount": amount,
            "amountUomId": original["amountUomId"],
            "refundForPaymentId": original["paymentId"],
            "paymentMethodId": original["paymentMethodId"],
            "paymentRefNum": parameters.get("paymentRefNum"),
            "paymentGatewayConfigId": parameters.get("paymentGatewayConfigId"),
            "effectiveDate": _now() if parameters.get("statusId") == "PmntDelivered" else None,
        },
        connection=run.connection,
    )
    return {"paymentId": refund["paymentId"], "amount": amount}


async def get_single_payment_gateway_details(
    actions: XmlActions, parameters: Mapping[str, Any], run: MoquiRun
) -> dict[str, Any] | None:
    """PaymentServices.xml get#SinglePaymentGatewayDetails (1923-1970): nothing without paymentRefNum; else the
    config's detailsServiceName (the component's service), and the Payment moved to the gatewayStatusId it answers."""
    await _record(run, "mantle.account.PaymentServices.get#SinglePaymentGatewayDetails", parameters)
    payment = await actions.facade.find_one(PAYMENT, {"paymentId": parameters["paymentId"]}, connection=run.connection)
    if payment is None or not payment["paymentRefNum"]:
        return {"paymentGatewayResponseId": None}
    config = await actions.facade.find_one(
        "mantle.account.method.PaymentGatewayConfig",
        {"paymentGatewayConfigId": payment["paymentGatewayConfigId"]},
        connection=run.connection,
    )
    if config is None or not config["detailsServiceName"]:
        return {"paymentGatewayResponseId": None}
    out = await actions.call(
        config["detailsServiceName"],
        {"paymentId": payment["paymentId"], "paymentGatewayConfigId": payment["paymentGatewayConfigId"]},
        run,
    )
    if run.errors or out is None:
        return None
    if out.get("gatewayStatusId") and out["gatewayStatusId"] != payment["statusId"]:
        await actions.call(
            f"update#{PAYMENT}", {"paymentId": payment["paymentId"], "statusId": out["gatewayStatusId"]}, run
        )
    return {"paymentGatewayResponseId": out["paymentGatewayResponseId"]}


async def update_credit_card(actions: XmlActions, parameters: Mapping[str, Any], run: MoquiRun) -> dict[str, Any]:
    """PaymentMethodServices.xml update#CreditCard (427-495, mantle-usl service/mantle/account upstream): nothing
    when no field changes; otherwise the old PaymentMethod gets thruDate now and a copy with the changes is created
    (fromDate now, originalPaymentMethodId back to the first), with a copy of its CreditCard. The in-place update for
    an OrgInternal owner is left out (card owners here are customers)."""
    await _record(run, "mantle.account.PaymentMethodServices.update#CreditCard", parameters)
    facade = actions.facade
    method_key = {"paymentMethodId": parameters["paymentMethodId"]}
    method = await facade.find_one("mantle.account.method.PaymentMethod", method_key, connection=run.connection)
    card = await facade.find_one("mantle.account.method.CreditCard", method_key, connection=run.connection)
    if method is None or card is None:
        raise GroovyError(f"Credit card {parameters['paymentMethodId']} not found")
    method_fields = set(actions.registry.get("mantle.account.method.PaymentMethod").field_names)
    card_fields = set(actions.registry.get("mantle.account.method.CreditCard").field_names)
    skip = {"paymentMethodId", "ownerPartyId", "lastUpdatedStamp"}
    new_method = {**method, **{k: v for k, v in parameters.items() if k in method_fields - skip}}
    new_card = {**card, **{k: v for k, v in parameters.items() if k in card_fields - skip and v}}
    if new_method == method and new_card == card:
        return {"paymentMethodId": method["paymentMethodId"]}
    now = _now()
    await actions.call("update#mantle.account.method.PaymentMethod", {**method_key, "thruDate": now}, run)
    copied = {k: v for k, v in new_method.items() if k not in {"paymentMethodId", "lastUpdatedStamp"}}
    copied.update(fromDate=now, originalPaymentMethodId=method["originalPaymentMethodId"] or method["paymentMethodId"])
    created = await actions.call("create#mantle.account.method.PaymentMethod", copied, run)
    new_id = (created or {})["paymentMethodId"]
    card_values = {k: v for k, v in new_card.items() if k not in {"paymentMethodId", "lastUpdatedStamp"}}
    await actions.call("create#mantle.account.method.CreditCard", {**card_values, "paymentMethodId": new_id}, run)
    return {"paymentMethodId": new_id}


async def delete_payment_method(actions: XmlActions, parameters: Mapping[str, Any], run: MoquiRun) -> dict[str, Any]:
    """PaymentMethodServices.xml delete#PaymentMethod (297-318): thruDateSetAuto Y while a Payment of the method is
    Proposed, Promised, Authorized or Declined (with Mantle's "will be deleted once completed" message), else
    thruDate now (Mantle's "will be deleted once completed" message is left out)."""
    await _record(run, "mantle.account.PaymentMethodServices.delete#PaymentMethod", parameters)
    facade = actions.facade
    method_id = parameters["paymentMethodId"]
    open_payments = await facade.find(
        PAYMENT,
        {"paymentMethodId": method_id, "statusId": ["PmntProposed", "PmntPromised", "PmntAuthorized", "PmntDeclined"]},
        limit=1,
        connection=run.connection,
    )
    key = {"paymentMethodId": method_id}
    if open_payments:
        await actions.call("update#mantle.account.method.PaymentMethod", {**key, "thruDateSetAuto": "Y"}, run)
        return {}
    await actions.call("update#mantle.account.method.PaymentMethod", {**key, "thruDate": _now()}, run)
    return {}


MANTLE_SERVICES: dict[str, MantleService] = {
    "mantle.order.OrderServices.add#OrderPartPayment": add_order_part_payment,
    "mantle.account.PaymentServices.authorize#SinglePayment": authorize_single_payment,
    "mantle.order.OrderServices.place#Order": place_order,
    "mantle.account.PaymentServices.create#RefundPayment": create_refund_payment,
    "mantle.account.PaymentServices.get#SinglePaymentGatewayDetails": get_single_payment_gateway_details,
    "mantle.account.PaymentMethodServices.update#CreditCard": update_credit_card,
    "mantle.account.PaymentMethodServices.delete#PaymentMethod": delete_payment_method,
}
