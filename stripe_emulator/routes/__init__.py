"""HTTP routes: one module per Stripe resource, plus the emulator-only control routes."""
