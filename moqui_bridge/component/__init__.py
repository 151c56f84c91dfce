"""The Moqui component that makes moqui-stripe a Mantle payment gateway, and the writer that fills it in."""

from moqui_bridge.component.writer import ComponentFolderError, Transport, write_component

__all__ = ["ComponentFolderError", "Transport", "write_component"]
