"""The shopper-facing checkout: signed links, the /stripe/Checkout page and its return handler."""
