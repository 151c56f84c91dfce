"""The six Stripe gateway services Mantle's PaymentGatewayConfig points at (see docs/payment-services.md)."""
