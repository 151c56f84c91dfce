"""The SaaS example: a small application in the same server that sells plans and takes payment through checkout.

`mount_saas_example(app, ...)` (in `service.saas_example.app`) adds its pages; `moqui-stripe demo` calls it.
"""

from __future__ import annotations

from moqui_bridge.resources import package_path

__all__ = ["DEMO_DATA_FILES"]

# The Moqui component's gateway configs first, then the example's store and Stripe settings that point at them.
DEMO_DATA_FILES = (
    package_path("moqui_bridge.component", "data", "20_StripeGatewayConfigData.xml"),
    package_path(__name__, "demo_data.xml"),
)
