"""Reading Moqui service, entity and data XML for the component tests (parsing only, no assertions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=False)

# (type, required) per parameter name; Moqui's defaults are type String and required false.
Parameters = dict[str, tuple[str, bool]]


def parse(path: Path) -> etree._ElementTree:
    """Parse an XML file without network access or entity expansion."""
    return etree.parse(str(path), _PARSER)


def service_name(package: str, service: etree._Element) -> str:
    """Moqui's full service name: ``<package>.<verb>#<noun>`` (just the verb when there is no noun)."""
    verb = service.get("verb")
    noun = service.get("noun")
    return f"{package}.{verb}#{noun}" if noun else f"{package}.{verb}"


def services_in(path: Path, package: str) -> dict[str, etree._Element]:
    """The ``<service>`` elements of a service XML file by full name, for the given package (file path) name."""
    return {service_name(package, service): service for service in parse(path).getroot().iter("service")}


def parameters(service: etree._Element, section: str) -> Parameters:
    """The declared parameters of ``in-parameters`` or ``out-parameters``."""
    found: Parameters = {}
    container = service.find(section)
    if container is None:
        return found
    for parameter in container.findall("parameter"):
        found[parameter.get("name", "")] = (parameter.get("type", "String"), parameter.get("required") == "true")
    return found


@dataclass
class EntityInfo:
    """What the data checks need from an entity definition."""

    fields: set[str] = field(default_factory=set)
    # field name -> enumTypeId, from relationships to moqui.basic.Enumeration (Mantle titles them by enum type)
    enum_fields: dict[str, str] = field(default_factory=dict)


@dataclass
class Reference:
    """Entities and enumerations found in the Moqui/Mantle reference files."""

    entities: dict[str, EntityInfo] = field(default_factory=dict)
    enum_types: set[str] = field(default_factory=set)
    enums: dict[str, str] = field(default_factory=dict)  # enumId -> enumTypeId


def load_reference(root: Path) -> Reference:
    """Read every entity definition and every seed record of Enumeration/EnumerationType under ``root``."""
    reference = Reference()
    for path in sorted(root.rglob("*.xml")):
        document = parse(path).getroot()
        for entity in document.iter("entity"):
            name = f"{entity.get('package')}.{entity.get('entity-name')}"
            info = reference.entities.setdefault(name, EntityInfo())
            info.fields.update(field_node.get("name", "") for field_node in entity.findall("field"))
            for relationship in entity.findall("relationship"):
                if relationship.get("related") != "moqui.basic.Enumeration" or not relationship.get("title"):
                    continue
                for key_map in relationship.findall("key-map"):
                    info.enum_fields[key_map.get("field-name", "")] = relationship.get("title", "")
        add_enumerations(reference, document)
    return reference


def add_enumerations(reference: Reference, document: etree._Element) -> None:
    """Record the Enumeration and EnumerationType rows of an entity-facade-xml (or seed-data) document."""
    for enum_type in document.iter("moqui.basic.EnumerationType"):
        reference.enum_types.add(enum_type.get("enumTypeId", ""))
    for enum in document.iter("moqui.basic.Enumeration"):
        reference.enums[enum.get("enumId", "")] = enum.get("enumTypeId", "")


def records_with_comments(path: Path) -> list[etree._Element]:
    """The records of an entity-facade-xml file, including records shown as commented-out examples."""
    root = parse(path).getroot()
    records = [child for child in root if isinstance(child.tag, str)]
    for comment in root.iter(etree.Comment):
        text = comment.text or ""
        start = text.find("<")
        if start < 0:
            continue
        # An example is everything from its first "<"; prose before it is the instruction to the reader.
        wrapped = etree.fromstring(f"<example>{text[start:]}</example>".encode(), _PARSER)
        records.extend(child for child in wrapped if isinstance(child.tag, str))
    return records
