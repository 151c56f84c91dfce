"""Typed access to a request's parameters: required values, integers, booleans, enums, hashes.

Which names a route takes is decided before (`stripe_emulator.accepted`)."""

from __future__ import annotations

import builtins
from collections.abc import Collection
from typing import Any

from stripe_emulator.errors import missing_parameter, parameter_error, unknown_parameter

_TRUE = {"true", "True", "1"}
_FALSE = {"false", "False", "0"}


class Params:
    """The parsed parameters of one call (their names already checked against the route's)."""

    def __init__(self, data: dict[builtins.str, Any]) -> None:
        self.data = data

    def has(self, name: builtins.str) -> builtins.bool:
        """Whether the caller sent `name` (an empty value counts: it means "unset")."""
        return name in self.data

    def raw(self, name: builtins.str) -> Any:
        """The parsed value as sent (string, dict or list), or None."""
        return self.data.get(name)

    def str(self, name: builtins.str, *, required: builtins.bool = False) -> builtins.str | None:
        """A string value; empty strings mean null, as in Stripe's form encoding."""
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise missing_parameter(name)
            return None
        if not isinstance(value, str):
            raise parameter_error(f"Invalid string: {value!r}", name, "parameter_invalid_string")
        return value

    def int(
        self, name: builtins.str, *, required: builtins.bool = False, minimum: builtins.int | None = None
    ) -> builtins.int | None:
        """An integer value (amounts are integers in minor units)."""
        text = self.str(name, required=required)
        if text is None:
            return None
        try:
            value = int(text)
        except ValueError:
            raise parameter_error(f"Invalid integer: {text}", name, "parameter_invalid_integer") from None
        if minimum is not None and value < minimum:
            raise parameter_error(
                f"This value must be greater than or equal to {minimum}.", name, "parameter_invalid_integer"
            )
        return value

    def bool(self, name: builtins.str, default: builtins.bool = False) -> builtins.bool:
        """A boolean sent as `true`/`false`."""
        text = self.str(name)
        if text is None:
            return default
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise parameter_error(f"Invalid boolean: {text}", name, "parameter_invalid_boolean")

    def choice(self, name: builtins.str, choices: Collection[builtins.str]) -> builtins.str | None:
        """A value from a fixed set."""
        value = self.str(name)
        if value is not None and value not in choices:
            listed = ", ".join(f"`{c}`" for c in choices)
            raise parameter_error(
                f"Invalid {name}: must be one of {listed}", name, "parameter_invalid_string"
            ) from None
        return value

    def hash(
        self, name: builtins.str, allowed: Collection[builtins.str] | None = None
    ) -> dict[builtins.str, Any] | None:
        """A nested hash (`card[number]=...`), optionally checking its keys."""
        value = self.data.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, dict):
            raise parameter_error(f"Invalid hash for {name}", name, "parameter_invalid_hash")
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    raise unknown_parameter(f"{name}[{key}]")
        return value

    def metadata(self) -> dict[builtins.str, builtins.str] | None:
        """`metadata[...]`: string values; an empty value asks to remove that key."""
        value = self.data.get("metadata")
        if value is None:
            return None
        if value == "":
            return {}
        if not isinstance(value, dict) or any(not isinstance(v, str) for v in value.values()):
            raise parameter_error("Invalid metadata: must be a hash of strings", "metadata", "parameter_invalid_hash")
        if len(value) > 50:
            raise parameter_error("Metadata can have at most 50 keys.", "metadata", "parameter_invalid_hash")
        return value

    def string_list(self, name: builtins.str) -> list[builtins.str]:
        """A list of strings (`expand[]=a&expand[]=b`), empty if absent."""
        value = self.data.get(name)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or any(not isinstance(v, str) for v in value):
            raise parameter_error(f"Invalid array for {name}", name, "parameter_invalid_array")
        return value


def merge_metadata(current: dict[str, str], update: dict[str, str] | None) -> dict[str, str]:
    """Stripe's metadata update: keys merge, an empty value deletes its key, `metadata=` clears all."""
    if update is None:
        return current
    if not update:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
