"""The Moqui/Mantle names the rules use: entities, status ids, enumerations and service names."""

from __future__ import annotations

from typing import Final

# Entities
PAYMENT: Final = "mantle.account.payment.Payment"
PAYMENT_METHOD: Final = "mantle.account.method.PaymentMethod"
CREDIT_CARD: Final = "mantle.account.method.CreditCard"
GATEWAY_CONFIG: Final = "mantle.account.method.PaymentGatewayConfig"
GATEWAY_RESPONSE: Final = "mantle.account.method.PaymentGatewayResponse"
STORE_GATEWAY: Final = "mantle.product.store.ProductStorePaymentGateway"
ORDER_HEADER: Final = "mantle.order.OrderHeader"
ORDER_PART: Final = "mantle.order.OrderPart"
STATUS_FLOW_TRANSITION: Final = "moqui.basic.StatusFlowTransition"

# Payment statuses (statusTypeId Payment)
PMNT_PROPOSED: Final = "PmntProposed"
PMNT_PROMISED: Final = "PmntPromised"
PMNT_AUTHORIZED: Final = "PmntAuthorized"
PMNT_DELIVERED: Final = "PmntDelivered"
PMNT_CONFIRMED: Final = "PmntConfirmed"
PMNT_CANCELLED: Final = "PmntCancelled"
PMNT_VOID: Final = "PmntVoid"
PMNT_DECLINED: Final = "PmntDeclined"

# A payment in one of these never moved money, so it does not count against what may be refunded or paid.
DEAD_PAYMENT_STATUSES: Final = frozenset({PMNT_CANCELLED, PMNT_VOID, PMNT_DECLINED})

# Order statuses (statusTypeId OrderHeader; OrderPart uses the same items)
ORDER_OPEN: Final = "OrderOpen"
ORDER_PLACED: Final = "OrderPlaced"
CLOSED_ORDER_STATUSES: Final = frozenset({"OrderCompleted", "OrderCancelled", "OrderRejected"})

# Enumerations
PGO_AUTHORIZE: Final = "PgoAuthorize"
PGO_AUTH_AND_CAPTURE: Final = "PgoAuthAndCapture"
PGO_CAPTURE: Final = "PgoCapture"
PGO_TX_DETAILS: Final = "PgoTxDetails"
PT_REFUND: Final = "PtRefund"
PT_INVOICE_PAYMENT: Final = "PtInvoicePayment"
PI_FINANCIAL_ACCOUNT: Final = "PiFinancialAccount"
PI_CREDIT_CARD: Final = "PiCreditCard"
PMT_CREDIT_CARD: Final = "PmtCreditCard"
FINANCIAL_ACCOUNT_GATEWAY: Final = "FinancialAccountLocal"

# The status flow Moqui checks transitions against when no other flow is named.
DEFAULT_STATUS_FLOW: Final = "Default"

# Services, by their Mantle names
_PAYMENT_SERVICES: Final = "mantle.account.PaymentServices."
AUTHORIZE_SINGLE_PAYMENT: Final = _PAYMENT_SERVICES + "authorize#SinglePayment"
AUTHORIZE_STORE_PAYMENT: Final = _PAYMENT_SERVICES + "authorize#StorePayment"
AUTHORIZE_ORDER_PAYMENTS: Final = _PAYMENT_SERVICES + "authorize#OrderPayments"
CAPTURE_SINGLE_PAYMENT: Final = _PAYMENT_SERVICES + "capture#SinglePayment"
RELEASE_SINGLE_PAYMENT: Final = _PAYMENT_SERVICES + "release#SinglePayment"
REFUND_SINGLE_PAYMENT: Final = _PAYMENT_SERVICES + "refund#SinglePayment"
GET_SINGLE_PAYMENT_GATEWAY_DETAILS: Final = _PAYMENT_SERVICES + "get#SinglePaymentGatewayDetails"
GET_AUTHORIZE_PAYMENT_GATEWAY_RESPONSE: Final = _PAYMENT_SERVICES + "get#AuthorizePaymentGatewayResponse"

_ORDER_SERVICES: Final = "mantle.order.OrderServices."
CREATE_ORDER: Final = _ORDER_SERVICES + "create#Order"
ADD_ORDER_PART_PAYMENT: Final = _ORDER_SERVICES + "add#OrderPartPayment"
PLACE_ORDER: Final = _ORDER_SERVICES + "place#Order"

# Behind `POST /rest/s1/mantle/parties/paymentMethods`, which Mantle maps to an entity create (no named service).
CREATE_PAYMENT_METHOD: Final = "mantle.account.PaymentMethodServices.create#PaymentMethod"

# Reads with no Mantle service of their own (Mantle's REST maps them to entity finds): ours, clearly named.
_READ_SERVICES: Final = "moqui_bridge.MantleReadServices."
GET_PAYMENT: Final = _READ_SERVICES + "get#Payment"
GET_PAYMENT_GATEWAY_RESPONSES: Final = _READ_SERVICES + "get#PaymentGatewayResponses"
GET_ORDER: Final = _READ_SERVICES + "get#Order"
