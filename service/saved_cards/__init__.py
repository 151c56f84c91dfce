"""Saved cards (docs/saved-cards.md): Stripe Customers per party, cards saved by the shopper as Mantle
PaymentMethods, the signed "Saved cards" page, and the card updater's events."""
