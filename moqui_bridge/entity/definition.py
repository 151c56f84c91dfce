"""Entity definitions parsed from Moqui entity-definition XML (the entity-definition-3.xsd format)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

from lxml import etree

from moqui_bridge.entity.errors import EntityDefinitionError, EntityValueError, UnknownFieldError
from moqui_bridge.entity.sql_types import max_length, postgres_sql_type
from moqui_bridge.entity.values import parse_default
from moqui_bridge.naming import camel_case_to_underscored

LAST_UPDATED_STAMP = "lastUpdatedStamp"
_SQL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class FieldDefinition:
    """One field of an entity: Moqui name, Moqui type and the SQL column it maps to."""

    name: str
    type: str
    column_name: str
    is_pk: bool = False
    not_null: bool = False
    default: str | None = None
    encrypt: bool = False
    sql_type: str = dataclass_field(init=False)
    max_length: int | None = dataclass_field(init=False)
    default_value: Any = dataclass_field(init=False)

    def __post_init__(self) -> None:
        if not _SQL_NAME.match(self.name) or not _SQL_NAME.match(self.column_name):
            # Names end up in SQL text: only plain identifiers are accepted.
            raise EntityDefinitionError(f"Field name {self.name!r} / column {self.column_name!r} is not a plain name")
        # Computed once here so every query and conversion reads the same dictionary answer.
        sql_type = postgres_sql_type(self.type)
        object.__setattr__(self, "sql_type", sql_type)
        object.__setattr__(self, "max_length", max_length(sql_type))
        try:
            object.__setattr__(self, "default_value", parse_default(self))
        except EntityValueError as error:
            raise EntityDefinitionError(f"Unsupported default {self.default!r} on field {self.name}: {error}") from None


@dataclass(frozen=True)
class KeyMap:
    """One ``key-map``: a field of this entity and the field of the related entity (None: resolve by name/PK)."""

    field_name: str
    related: str | None = None


@dataclass(frozen=True)
class RelationshipDefinition:
    """A ``relationship`` element: type (one, one-nofk, many), related entity, title and key maps."""

    type: str
    related: str
    title: str | None = None
    short_alias: str | None = None
    key_maps: tuple[KeyMap, ...] = ()

    @property
    def name(self) -> str:
        """Moqui's relationship name: ``title#related`` or just ``related``."""
        return f"{self.title}#{self.related}" if self.title else self.related


@dataclass(frozen=True)
class IndexDefinition:
    """An ``index`` element with its fields in order."""

    name: str
    fields: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class EntityDefinition:
    """A parsed ``entity`` element, including Moqui's automatic ``lastUpdatedStamp`` field."""

    package: str
    entity_name: str
    table_name: str
    fields: tuple[FieldDefinition, ...]
    relationships: tuple[RelationshipDefinition, ...] = ()
    indexes: tuple[IndexDefinition, ...] = ()
    short_alias: str | None = None
    optimistic_lock: bool = False
    source: Path | None = None
    _by_name: dict[str, FieldDefinition] = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in (self.entity_name, self.table_name):
            if not _SQL_NAME.match(name):
                raise EntityDefinitionError(f"Entity or table name {name!r} is not a plain name")
        by_name: dict[str, FieldDefinition] = {}
        for field_definition in self.fields:
            if field_definition.name in by_name:
                raise EntityDefinitionError(f"Field {field_definition.name!r} is defined twice on {self.full_name}")
            by_name[field_definition.name] = field_definition
        object.__setattr__(self, "_by_name", by_name)
        if not self.pk_fields:
            raise EntityDefinitionError(f"Entity {self.full_name} has no primary key field")
        for index in self.indexes:
            for index_field in index.fields:
                self.field(index_field)

    @property
    def full_name(self) -> str:
        """``package.EntityName``, the name Moqui uses everywhere (sequence names included)."""
        return f"{self.package}.{self.entity_name}"

    @property
    def pk_fields(self) -> tuple[FieldDefinition, ...]:
        """Primary-key fields in definition order."""
        return tuple(f for f in self.fields if f.is_pk)

    @property
    def pk_field_names(self) -> tuple[str, ...]:
        """Names of the primary-key fields in definition order."""
        return tuple(f.name for f in self.fields if f.is_pk)

    @property
    def field_names(self) -> tuple[str, ...]:
        """All field names in definition order."""
        return tuple(f.name for f in self.fields)

    @property
    def has_update_stamp(self) -> bool:
        """Whether Moqui keeps ``lastUpdatedStamp`` on this entity."""
        return LAST_UPDATED_STAMP in self._by_name

    def has_field(self, name: str) -> bool:
        """Whether ``name`` is a field of this entity."""
        return name in self._by_name

    def field(self, name: str) -> FieldDefinition:
        """The field called ``name``; raises UnknownFieldError for anything else."""
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownFieldError(self.full_name, name) from None

    def __iter__(self) -> Iterator[FieldDefinition]:
        return iter(self.fields)


def _flag(element: etree._Element, attribute: str) -> bool:
    return element.get(attribute, "false").strip().lower() == "true"


def _required(element: etree._Element, attribute: str, source: Path | None) -> str:
    value = element.get(attribute)
    if not value:
        raise EntityDefinitionError(f"<{element.tag}> without {attribute} in {source} line {element.sourceline}")
    return value


def _parse_field(element: etree._Element, source: Path | None) -> FieldDefinition:
    name = _required(element, "name", source)
    return FieldDefinition(
        name=name,
        type=_required(element, "type", source),
        column_name=element.get("column-name") or camel_case_to_underscored(name),
        is_pk=_flag(element, "is-pk"),
        not_null=_flag(element, "not-null"),
        default=element.get("default"),
        encrypt=_flag(element, "encrypt"),
    )


def _parse_relationship(element: etree._Element, source: Path | None) -> RelationshipDefinition:
    key_maps = tuple(
        KeyMap(field_name=_required(key_map, "field-name", source), related=key_map.get("related"))
        for key_map in element.iterchildren("key-map")
        if key_map.get("field-name")  # value-only key-maps (constants) do not map fields
    )
    return RelationshipDefinition(
        type=_required(element, "type", source),
        related=_required(element, "related", source),
        title=element.get("title"),
        short_alias=element.get("short-alias"),
        key_maps=key_maps,
    )


def _parse_index(element: etree._Element, source: Path | None) -> IndexDefinition:
    fields = tuple(_required(f, "name", source) for f in element.iterchildren("index-field"))
    return IndexDefinition(name=_required(element, "name", source), fields=fields, unique=_flag(element, "unique"))


def parse_entity(element: etree._Element, source: Path | None = None) -> EntityDefinition:
    """Parse one ``<entity>`` element into an EntityDefinition."""
    entity_name = _required(element, "entity-name", source)
    fields = [_parse_field(f, source) for f in element.iterchildren("field")]
    # Moqui adds the stamp to every entity unless told not to; Moqui's own tables have the column.
    if not _flag(element, "no-update-stamp") and not any(f.name == LAST_UPDATED_STAMP for f in fields):
        fields.append(FieldDefinition(LAST_UPDATED_STAMP, "date-time", camel_case_to_underscored(LAST_UPDATED_STAMP)))
    return EntityDefinition(
        package=_required(element, "package", source),
        entity_name=entity_name,
        table_name=element.get("table-name") or camel_case_to_underscored(entity_name),
        fields=tuple(fields),
        relationships=tuple(_parse_relationship(r, source) for r in element.iterchildren("relationship")),
        indexes=tuple(_parse_index(i, source) for i in element.iterchildren("index")),
        short_alias=element.get("short-alias"),
        optimistic_lock=_flag(element, "optimistic-lock"),
        source=source,
    )


def parse_entity_file(path: Path) -> list[EntityDefinition]:
    """Parse every ``<entity>`` of an ``<entities>`` file (view-entity and extend-entity are not supported)."""
    try:
        root = etree.parse(str(path)).getroot()
    except etree.XMLSyntaxError as error:
        raise EntityDefinitionError(f"Cannot parse entity definitions in {path}: {error}") from error
    if root.tag != "entities":
        raise EntityDefinitionError(f"{path} is not an entity-definition file (root <{root.tag}>, not <entities>)")
    unsupported = [child.tag for child in root if isinstance(child.tag, str) and child.tag != "entity"]
    if unsupported:
        raise EntityDefinitionError(f"{path}: unsupported elements {sorted(set(unsupported))}")
    return [parse_entity(element, path) for element in root.iterchildren("entity")]
