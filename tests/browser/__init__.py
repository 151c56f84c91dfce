"""Browser tests of the checkout and the SaaS example (headless Chromium, real servers on loopback)."""
