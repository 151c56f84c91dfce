"""Data files shipped with moqui_bridge (Moqui entity-facade-xml)."""

from moqui_bridge.resources import package_path

MANTLE_SEED_DATA = package_path(__name__, "MantleSeedData.xml")
"""The Mantle enumerations and status items the service relies on (type ``seed``)."""
