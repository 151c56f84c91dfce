"""The in-memory object store: one bounded, insertion-ordered map per object type.

The emulator runs on a single event loop and every mutation of an object happens without an `await` in
between reading and writing it, so a request sees and leaves objects whole. Memory stays bounded: each
map keeps at most `capacity` entries and evicts the oldest first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from stripe_emulator.errors import resource_missing

V = TypeVar("V")
StripeObject = dict[str, Any]


class BoundedMap(Generic[V]):
    """An insertion-ordered map that drops its oldest entries beyond `capacity`."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._items: OrderedDict[str, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> V | None:
        """The value under `key`, or None."""
        return self._items.get(key)

    def put(self, key: str, value: V) -> None:
        """Store a value; a new key beyond capacity evicts the oldest one."""
        if key not in self._items and len(self._items) >= self.capacity:
            self._items.popitem(last=False)
        self._items[key] = value

    def pop(self, key: str) -> V | None:
        """Remove and return the value under `key`, if any."""
        return self._items.pop(key, None)

    def newest_first(self) -> Iterator[V]:
        """Values from newest to oldest, the order Stripe lists objects in."""
        return reversed(self._items.values())

    def values(self) -> Iterator[V]:
        """Values from oldest to newest."""
        return iter(self._items.values())

    def clear(self) -> None:
        """Drop everything."""
        self._items.clear()


# Labels used in Stripe's "No such ..." messages.
_LABELS = {
    "payment_intent": "payment_intent",
    "charge": "charge",
    "refund": "refund",
    "payment_method": "PaymentMethod",
    "customer": "customer",
    "setup_intent": "setupintent",
    "dispute": "dispute",
    "event": "event",
}


class Store:
    """All Stripe objects the emulator holds, by type (`obj["object"]`) and id."""

    def __init__(self, capacity_per_type: int) -> None:
        self.capacity_per_type = capacity_per_type
        self._maps: dict[str, BoundedMap[StripeObject]] = {}

    def _map(self, kind: str) -> BoundedMap[StripeObject]:
        found = self._maps.get(kind)
        if found is None:
            found = self._maps[kind] = BoundedMap(self.capacity_per_type)
        return found

    def add(self, obj: StripeObject) -> StripeObject:
        """Store (or replace) an object under its `object` type and `id`."""
        self._map(obj["object"]).put(obj["id"], obj)
        return obj

    def get(self, kind: str, object_id: str) -> StripeObject | None:
        """An object by type and id, or None."""
        return self._map(kind).get(object_id)

    def require(self, kind: str, object_id: str, param: str = "id") -> StripeObject:
        """An object by type and id, or Stripe's 404 `resource_missing`."""
        found = self._map(kind).get(object_id)
        if found is None or found.get("deleted"):
            raise resource_missing(_LABELS.get(kind, kind), object_id, param)
        return found

    def remove(self, kind: str, object_id: str) -> None:
        """Forget an object."""
        self._map(kind).pop(object_id)

    def newest_first(self, kind: str) -> Iterator[StripeObject]:
        """Objects of one type, newest first."""
        return self._map(kind).newest_first()

    def count(self, kind: str) -> int:
        """How many objects of one type are held."""
        return len(self._map(kind))

    def clear(self) -> None:
        """Forget every object."""
        self._maps.clear()
