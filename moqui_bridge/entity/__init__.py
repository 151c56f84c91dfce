"""The Moqui-shaped entity engine: definitions from entity XML, asyncpg data access, sequences, locks, DDL."""

from moqui_bridge.entity.definition import EntityDefinition, FieldDefinition, IndexDefinition, RelationshipDefinition
from moqui_bridge.entity.errors import (
    EntityDefinitionError,
    EntityError,
    EntityValueError,
    PoolExhaustedError,
    UnknownEntityError,
    UnknownFieldError,
)
from moqui_bridge.entity.facade import EntityFacade
from moqui_bridge.entity.locks import advisory_lock, session_advisory_lock, try_advisory_lock
from moqui_bridge.entity.registry import EntityRegistry
from moqui_bridge.entity.sequence import SequenceBanks

__all__ = [
    "EntityDefinition",
    "EntityDefinitionError",
    "EntityError",
    "EntityFacade",
    "EntityRegistry",
    "EntityValueError",
    "FieldDefinition",
    "IndexDefinition",
    "PoolExhaustedError",
    "RelationshipDefinition",
    "SequenceBanks",
    "UnknownEntityError",
    "UnknownFieldError",
    "advisory_lock",
    "session_advisory_lock",
    "try_advisory_lock",
]
