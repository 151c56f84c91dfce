"""Exceptions of the entity engine: every one names the entity and field involved."""


class EntityError(Exception):
    """Base class for entity-engine errors (bad definitions, unknown names, bad values)."""


class EntityDefinitionError(EntityError):
    """An entity-definition XML file is malformed or inconsistent."""


class UnknownEntityError(EntityError):
    """An entity name is not in the registry."""

    def __init__(self, entity_name: str, detail: str = "") -> None:
        super().__init__(f"Entity not found: {entity_name!r}" + (f" ({detail})" if detail else ""))
        self.entity_name = entity_name


class UnknownFieldError(EntityError):
    """A field name is not defined on the entity."""

    def __init__(self, entity_name: str, field_name: str) -> None:
        super().__init__(f"Field {field_name!r} is not defined on entity {entity_name}")
        self.entity_name = entity_name
        self.field_name = field_name


class EntityValueError(EntityError):
    """A value cannot be stored in a field (wrong type, too long, missing primary key, ...)."""


class PoolExhaustedError(EntityError):
    """No pooled connection became free in time: the pool is exhausted (too small, or connections are leaking)."""
