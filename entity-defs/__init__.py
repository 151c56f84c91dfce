"""Moqui entity definitions (XML), installed as the package ``moqui_stripe_entity_defs``.

The folder keeps its Moqui name in the source tree; pyproject.toml maps it to this package so a wheel carries it and
``moqui_bridge.resources.package_path("moqui_stripe_entity_defs")`` finds it from either place.
"""
