"""EntityRegistry: every loaded entity definition, by full name and by short name."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from moqui_bridge.entity.definition import (
    EntityDefinition,
    EntityExtension,
    KeyMap,
    RelationshipDefinition,
    parse_entity_document,
)
from moqui_bridge.entity.errors import EntityDefinitionError, UnknownEntityError


class EntityRegistry:
    """Entity definitions looked up by ``package.EntityName`` or, when unambiguous, by ``EntityName``."""

    def __init__(self, definitions: Iterable[EntityDefinition] = ()) -> None:
        self._by_full_name: dict[str, EntityDefinition] = {}
        self._by_short_name: dict[str, list[EntityDefinition]] = {}
        for definition in definitions:
            self.add(definition)

    @classmethod
    def load(cls, paths: Iterable[Path]) -> EntityRegistry:
        """Load every ``*.xml`` under the given folders (recursively, sorted) and the given files."""
        files: list[Path] = []
        for path in paths:
            path = Path(path)
            if path.is_dir():
                files.extend(sorted(path.rglob("*.xml")))
            elif path.is_file():
                files.append(path)
            else:
                raise EntityDefinitionError(f"Entity definition path does not exist: {path}")
        return cls.from_files(files)

    @classmethod
    def from_files(cls, files: Iterable[Path]) -> EntityRegistry:
        """Load the given entity-definition files, then merge their ``extend-entity`` parts into loaded entities."""
        registry = cls()
        extensions: list[EntityExtension] = []
        for file in files:
            parsed = parse_entity_document(Path(file))
            for definition in parsed.entities:
                registry.add(definition)
            extensions.extend(parsed.extensions)
        # Only now: an extension may come before the entity it extends in load order.
        for extension in extensions:
            registry.extend(extension)
        return registry

    def add(self, definition: EntityDefinition) -> None:
        """Register a definition; a second definition with the same full name is an error."""
        existing = self._by_full_name.get(definition.full_name)
        if existing is not None:
            raise EntityDefinitionError(
                f"Entity {definition.full_name} is defined twice ({existing.source} and {definition.source})"
            )
        self._by_full_name[definition.full_name] = definition
        self._by_short_name.setdefault(definition.entity_name, []).append(definition)

    def extend(self, extension: EntityExtension) -> bool:
        """Merge an extension into the entity it names; False (and nothing changed) when that entity is not loaded.

        Extensions of entities we do not load (e.g. Mantle's of ``moqui.security.UserAccount``) are ignored.
        """
        existing = self._by_full_name.get(extension.full_name)
        if existing is None:
            return False
        extended = extension.apply_to(existing)
        self._by_full_name[extended.full_name] = extended
        same_name = self._by_short_name[extended.entity_name]
        same_name[same_name.index(existing)] = extended
        return True

    def get(self, name: str) -> EntityDefinition:
        """The definition for a full or short entity name; raises UnknownEntityError otherwise."""
        definition = self._by_full_name.get(name)
        if definition is not None:
            return definition
        candidates = self._by_short_name.get(name, [])
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            names = ", ".join(sorted(c.full_name for c in candidates))
            raise UnknownEntityError(name, f"ambiguous short name: use one of {names}")
        raise UnknownEntityError(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return name in self._by_full_name or len(self._by_short_name.get(name, [])) == 1

    def __iter__(self) -> Iterator[EntityDefinition]:
        return iter(self._by_full_name.values())

    def __len__(self) -> int:
        return len(self._by_full_name)

    @property
    def full_names(self) -> list[str]:
        """All full entity names, sorted."""
        return sorted(self._by_full_name)

    def key_maps(self, definition: EntityDefinition, relationship: RelationshipDefinition) -> tuple[KeyMap, ...]:
        """Resolve a relationship's key maps the way Moqui does when they are partly or wholly implied.

        Without key-maps, a ``one`` relationship joins on the related entity's primary key fields by the same
        names and a ``many`` relationship on this entity's primary key fields. A key-map without ``related``
        names the same field on the other side, or the related single primary key when there is one key-map.
        """
        related = self.get(relationship.related)
        if not relationship.key_maps:
            if relationship.type.startswith("one"):
                return tuple(KeyMap(name, name) for name in related.pk_field_names)
            return tuple(KeyMap(name, name) for name in definition.pk_field_names)
        single_pk = len(relationship.key_maps) == 1 and len(related.pk_field_names) == 1
        resolved: list[KeyMap] = []
        for key_map in relationship.key_maps:
            if key_map.related:
                resolved.append(key_map)
            elif related.has_field(key_map.field_name) or not single_pk:
                resolved.append(KeyMap(key_map.field_name, key_map.field_name))
            else:
                resolved.append(KeyMap(key_map.field_name, related.pk_field_names[0]))
        return tuple(resolved)
