"""The Moqui component that makes moqui-stripe a Mantle payment gateway, and the writer that installs it."""

from moqui_bridge.component.writer import ComponentFolderError, write_component

__all__ = ["ComponentFolderError", "write_component"]
