"""Data files shipped with moqui_bridge (Moqui entity-facade-xml)."""

from pathlib import Path

MANTLE_SEED_DATA = Path(__file__).with_name("MantleSeedData.xml")
"""The Mantle enumerations and status items the service relies on (type ``seed``)."""
