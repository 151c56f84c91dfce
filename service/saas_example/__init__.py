"""The SaaS example: a small application in the same server that sells plans and takes payment through checkout.

`mount_saas_example(app, ...)` (in `service.saas_example.app`) adds its pages; `moqui-stripe demo` calls it.
"""

from __future__ import annotations

from pathlib import Path

from moqui_bridge.component import __file__ as _component_init

__all__ = ["DEMO_DATA_FILES"]

# The Moqui component's gateway configs first, then the example's store and Stripe settings that point at them.
DEMO_DATA_FILES = (
    Path(_component_init).resolve().parent / "data" / "20_StripeGatewayConfigData.xml",
    Path(__file__).resolve().parent / "demo_data.xml",
)
