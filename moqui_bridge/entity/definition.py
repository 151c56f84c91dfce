"""Entity definitions parsed from Moqui entity-definition XML (the entity-definition-3.xsd format)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, TypeVar

from lxml import etree

from moqui_bridge.entity.errors import EntityDefinitionError, EntityValueError, UnknownFieldError
from moqui_bridge.entity.sql_types import max_length, postgres_sql_type
from moqui_bridge.entity.values import is_literal_default, parse_default
from moqui_bridge.naming import camel_case_to_underscored

LAST_UPDATED_STAMP = "lastUpdatedStamp"
_SQL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class FieldDefinition:
    """One field of an entity: Moqui name, Moqui type and the SQL column it maps to.

    ``default`` is the attribute as written. A literal (``'PmtrNot'``, ``5``) is converted into ``default_value``
    and applied on create; a Groovy expression (``ec.user.nowTimestamp``, ``partyId``) is Moqui's entity facade's
    to evaluate, so it is kept as text only (``default_is_expression``) and ``default_value`` stays None.
    """

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
    default_is_expression: bool = dataclass_field(init=False)

    def __post_init__(self) -> None:
        if not _SQL_NAME.match(self.name) or not _SQL_NAME.match(self.column_name):
            # Names end up in SQL text: only plain identifiers are accepted.
            raise EntityDefinitionError(f"Field name {self.name!r} / column {self.column_name!r} is not a plain name")
        # Computed once here so every query and conversion reads the same dictionary answer.
        sql_type = postgres_sql_type(self.type)
        object.__setattr__(self, "sql_type", sql_type)
        object.__setattr__(self, "max_length", max_length(sql_type))
        object.__setattr__(
            self, "default_is_expression", self.default is not None and not is_literal_default(self.default)
        )
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

    def __post_init__(self) -> None:
        # Index names end up in DDL text like every other name, and entity files may come from other components.
        if not _SQL_NAME.match(self.name):
            raise EntityDefinitionError(f"Index name {self.name!r} is not a plain name")


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


@dataclass(frozen=True, eq=False)
class EntityExtension:
    """An ``<extend-entity>``: fields, relationships and indexes another component adds to an entity.

    Kept unapplied until every file is read (EntityRegistry does that), because the entity may be defined in a file
    loaded later. The field elements stay as XML: a field already on the entity takes only the attributes given here.
    """

    package: str
    entity_name: str
    field_elements: tuple[etree._Element, ...]
    relationships: tuple[RelationshipDefinition, ...]
    indexes: tuple[IndexDefinition, ...]
    table_name: str | None = None
    optimistic_lock: bool | None = None
    source: Path | None = None

    @property
    def full_name(self) -> str:
        """``package.EntityName`` of the entity extended."""
        return f"{self.package}.{self.entity_name}"

    def apply_to(self, definition: EntityDefinition) -> EntityDefinition:
        """The definition with this extension merged in, as Moqui merges it into one entity (and one table)."""
        fields = list(definition.fields)
        # Moqui appends lastUpdatedStamp after merging extensions; keep it last here too.
        stamp = [fields.pop()] if fields and fields[-1].name == LAST_UPDATED_STAMP else []
        position = {field_definition.name: number for number, field_definition in enumerate(fields)}
        for element in self.field_elements:
            name = _required(element, "name", self.source)
            if name in position:
                fields[position[name]] = _override_field(fields[position[name]], element)
            else:
                position[name] = len(fields)
                fields.append(_parse_field(element, self.source))
        return replace(
            definition,
            fields=tuple(fields + stamp),
            relationships=_merged(definition.relationships, self.relationships, lambda r: r.name),
            indexes=_merged(definition.indexes, self.indexes, lambda i: i.name),
            table_name=self.table_name or definition.table_name,
            optimistic_lock=definition.optimistic_lock if self.optimistic_lock is None else self.optimistic_lock,
        )


def _override_field(existing: FieldDefinition, element: etree._Element) -> FieldDefinition:
    """``existing`` with the attributes an extend-entity's field of the same name sets."""
    changes: dict[str, Any] = {}
    for attribute, argument in (("type", "type"), ("column-name", "column_name"), ("default", "default")):
        if attribute in element.attrib:
            changes[argument] = element.get(attribute)
    for attribute, argument in (("is-pk", "is_pk"), ("not-null", "not_null"), ("encrypt", "encrypt")):
        if attribute in element.attrib:
            changes[argument] = _flag(element, attribute)
    return replace(existing, **changes)


_Named = TypeVar("_Named", RelationshipDefinition, IndexDefinition)


def _merged(
    existing: tuple[_Named, ...], added: tuple[_Named, ...], key: Callable[[_Named], str]
) -> tuple[_Named, ...]:
    """``existing`` plus ``added``; an added item with an existing name replaces it in place."""
    by_key = {key(item): item for item in existing}
    for item in added:
        by_key[key(item)] = item
    return tuple(by_key.values())


def parse_extension(element: etree._Element, source: Path | None = None) -> EntityExtension:
    """Parse one ``<extend-entity>`` element (its fields are checked when it is applied)."""
    lock = element.get("optimistic-lock")
    return EntityExtension(
        package=_required(element, "package", source),
        entity_name=_required(element, "entity-name", source),
        field_elements=tuple(element.iterchildren("field")),
        relationships=tuple(_parse_relationship(r, source) for r in element.iterchildren("relationship")),
        indexes=tuple(_parse_index(i, source) for i in element.iterchildren("index")),
        table_name=element.get("table-name"),
        optimistic_lock=None if lock is None else _flag(element, "optimistic-lock"),
        source=source,
    )


@dataclass(frozen=True)
class EntityFile:
    """What one ``<entities>`` file defines: entities, and extensions of entities defined anywhere."""

    entities: tuple[EntityDefinition, ...]
    extensions: tuple[EntityExtension, ...]


# Entity files come from other components: no DTDs, external entities or network access.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)
# view-entity: Moqui builds no table for a view, and we never query one, so views are skipped.
_SKIPPED = frozenset({"view-entity"})


def parse_entity_document(path: Path) -> EntityFile:
    """Parse an ``<entities>`` file: its ``<entity>`` and ``<extend-entity>`` elements (``<view-entity>`` skipped)."""
    try:
        root = etree.parse(str(path), _PARSER).getroot()
    except etree.XMLSyntaxError as error:
        raise EntityDefinitionError(f"Cannot parse entity definitions in {path}: {error}") from error
    if root.tag != "entities":
        raise EntityDefinitionError(f"{path} is not an entity-definition file (root <{root.tag}>, not <entities>)")
    known = {"entity", "extend-entity", *_SKIPPED}
    unsupported = [child.tag for child in root if isinstance(child.tag, str) and child.tag not in known]
    if unsupported:
        raise EntityDefinitionError(f"{path}: unsupported elements {sorted(set(unsupported))}")
    return EntityFile(
        entities=tuple(parse_entity(element, path) for element in root.iterchildren("entity")),
        extensions=tuple(parse_extension(element, path) for element in root.iterchildren("extend-entity")),
    )


def parse_entity_file(path: Path) -> list[EntityDefinition]:
    """The ``<entity>`` definitions of a file as written; EntityRegistry also applies its ``<extend-entity>`` parts."""
    return list(parse_entity_document(path).entities)
