"""Which folders the wheel carries; pyproject.toml holds everything else.

This file exists for the one thing pyproject.toml's tables cannot say alongside package discovery: the `entity-defs/`
folder (a Moqui name, not a Python one) installs as the package `moqui_stripe_entity_defs`, so a wheel carries the
entity definitions and `importlib.resources` finds them there and, through the editable install, in the source tree.
"""

from setuptools import find_namespace_packages, setup

ENTITY_DEFS_PACKAGE = "moqui_stripe_entity_defs"

setup(
    packages=[
        *find_namespace_packages(
            include=["service", "service.*", "moqui_bridge", "moqui_bridge.*"],
            # The emulator, the demo and the SaaS example ship in moqui-stripe-demo (distributions/moqui-stripe-demo).
            exclude=["service.demo", "service.demo.*", "service.saas_example", "service.saas_example.*"],
        ),
        ENTITY_DEFS_PACKAGE,
        *(
            f"{ENTITY_DEFS_PACKAGE}.{folder}"
            for folder in find_namespace_packages("entity-defs", exclude=["__pycache__"])
        ),
    ],
    package_dir={ENTITY_DEFS_PACKAGE: "entity-defs"},
)
