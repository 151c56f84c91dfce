"""Stripe webhooks: `POST /stripe/webhook/{paymentGatewayConfigId}` and the dispute read (see docs/webhooks.md).

signature.py      the Stripe-Signature check (constant-time, several v1 values, tolerance)
event_log.py      stripe.StripeWebhookEvent rows: stored before processing, deduplicated by event id; the event's lease
processing.py     one event: lease, store, dispatch by type (cut at the deadline), record the outcome, decide 200 or 500
payment_lookup.py which payment a Stripe object belongs to (or why it is foreign), and its lease
intent_events.py  payment_intent.* -> ask Mantle to authorize / refresh, record failed attempts
refund_events.py  charge.refunded / charge.refund.updated -> dashboard refunds as PGR + StripeRefund + refund Payment
disputes.py       charge.dispute.* -> stripe.StripeDispute
dispute_read.py   stripe.StripeWebhookServices.get#PaymentDisputes and its REST route
routes.py         the aiohttp endpoint and `add_webhook_routes`
"""

from service.webhooks.dispute_read import GET_PAYMENT_DISPUTES, add_dispute_rest_routes, register_webhook_services
from service.webhooks.routes import WEBHOOK_PATH, add_webhook_routes

__all__ = [
    "GET_PAYMENT_DISPUTES",
    "WEBHOOK_PATH",
    "add_dispute_rest_routes",
    "add_webhook_routes",
    "register_webhook_services",
]
