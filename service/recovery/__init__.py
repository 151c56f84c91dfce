"""Recovery of off-session charges: the signed link an authorize answer carries when a saved card was declined or
needs authentication, and the page where the customer completes the payment (docs/off-session.md)."""
