"""Tests of the Stripe webhook endpoint: real PostgreSQL, the Stripe emulator delivering over loopback HTTP."""
