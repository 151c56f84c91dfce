"""Our registered gateway services against the Mantle contract they implement, read from Mantle's own files.

- The six services have exactly the in/out parameters (name, Moqui type, required) of the Mantle interface each
  implements (``mantle-usl/service/PaymentServices-interfaces.xml``), as the registry describes them.
- Every Mantle entity the services name exists in Mantle's entity XML (and in our entity-defs, whose fields
  tests/contract/test_entity_defs_contract.py checks one by one), and the PaymentGatewayResponse fields we fill are
  Mantle's, with values that fit Mantle's columns.
- The ids we write or compare with (PaymentOperation, Payment statuses) and every row of our Mantle seed file
  are Mantle's own seed data.

Reads the vendored reference files in ``tests/reference/moqui-reference``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from moqui_bridge.data import MANTLE_SEED_DATA
from moqui_bridge.entity import EntityRegistry
from moqui_bridge.entity.data_loader import DataRecord, parse_data, read_data_file
from moqui_bridge.entity.sql_types import DEFAULT_SQL_TYPES, max_length
from moqui_bridge.service import ServiceRegistry
from service.context import ServiceContext
from service.database_setup import load_entity_registry
from service.payment_services.standalone_client import STANDALONE_SERVICE_NAMES
from service.service_catalogue import register_services
from service.stripe_gateway.idempotency import GatewayOperation
from service.stripe_gateway.outcome import MESSAGE_TEXT, SHORT_TEXT, GatewayOutcome
from tests.contract.mantle_reference import (
    data_file_records,
    mantle_registry,
    seed_records,
)
from tests.reference import MOQUI_REFERENCE

REPO_ROOT = Path(__file__).resolve().parents[2]
INTERFACES_FILE = MOQUI_REFERENCE / "mantle-usl" / "service" / "PaymentServices-interfaces.xml"
INTERFACE_PACKAGE = "mantle.account.PaymentServices"
MANTLE_SETUP_DATA = MOQUI_REFERENCE / "mantle-usl" / "data" / "MantleSetupData.xml"
PGR = "mantle.account.method.PaymentGatewayResponse"
# Our services and the interface each implements (authorizeAndCapture has no interface of its own in Mantle).
IMPLEMENTS = {
    "stripe.StripePaymentServices.authorize#Payment": f"{INTERFACE_PACKAGE}.authorize#Payment",
    "stripe.StripePaymentServices.authorizeAndCapture#Payment": f"{INTERFACE_PACKAGE}.authorize#Payment",
    "stripe.StripePaymentServices.capture#Payment": f"{INTERFACE_PACKAGE}.capture#Payment",
    "stripe.StripePaymentServices.release#Payment": f"{INTERFACE_PACKAGE}.release#Payment",
    "stripe.StripePaymentServices.refund#Payment": f"{INTERFACE_PACKAGE}.refund#Payment",
    "stripe.StripePaymentServices.get#PaymentGatewayDetails": f"{INTERFACE_PACKAGE}.get#PaymentGatewayDetails",
}
# Where the code that reads and writes Moqui's rows lives: the gateway services, checkout, webhooks, Mantle side.
SCANNED_CODE = (REPO_ROOT / "service", REPO_ROOT / "moqui_bridge" / "mantle")
ENTITY_NAME = re.compile(r"(?:mantle|moqui)\.[a-z][\w.]*\.[A-Z]\w*")
PAYMENT_STATUS = re.compile(r"Pmnt[A-Z]\w*")
PAYMENT_OPERATION = re.compile(r"Pgo[A-Z]\w*")
# Only in our component's seed: Mantle has no Stripe gateway type (tests/moqui_side/test_component_data.py loads it).
OURS_NOT_MANTLES = {("moqui.basic.Enumeration", ("PgtStripe",))}

# (type, required) by parameter name
Parameters = dict[str, tuple[str, bool]]


def _declared(service: etree._Element, section: str) -> Parameters:
    container = service.find(section)
    if container is None:
        return {}
    # Moqui's defaults: type String, not required.
    return {
        str(p.get("name")): (p.get("type", "String"), p.get("required") == "true")
        for p in container.iterchildren("parameter")
    }


def _registered(parameters: Any) -> Parameters:
    return {p.name: (p.type, p.required) for p in parameters}


@pytest.fixture(scope="module")
def interfaces() -> dict[str, etree._Element]:
    root = etree.parse(str(INTERFACES_FILE)).getroot()
    return {f"{INTERFACE_PACKAGE}.{s.get('verb')}#{s.get('noun')}": s for s in root.iterchildren("service")}


@pytest.fixture(scope="module")
def registry() -> ServiceRegistry[ServiceContext]:
    """Everything the app registers."""
    services: ServiceRegistry[ServiceContext] = ServiceRegistry()
    register_services(services)
    return services


@pytest.fixture(scope="module")
def mantle_entities() -> EntityRegistry:
    return mantle_registry()


@pytest.fixture(scope="module")
def mantle_seed(mantle_entities: EntityRegistry) -> dict[tuple[str, tuple[Any, ...]], dict[str, str | None]]:
    """Mantle's and Moqui's seed rows (entity seed-data sections and MantleSetupData.xml) by entity and key."""
    records = [*seed_records(mantle_entities), *data_file_records(mantle_entities, MANTLE_SETUP_DATA)]
    return {_key(record): record.values for record in records}


def _key(record: DataRecord) -> tuple[str, tuple[Any, ...]]:
    definition = record.definition
    return definition.full_name, tuple(record.values.get(name) for name in definition.pk_field_names)


def _string_constants() -> dict[str, set[str]]:
    """Every string constant in the scanned code, with the files it appears in."""
    found: dict[str, set[str]] = {}
    for folder in SCANNED_CODE:
        for path in sorted(folder.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found.setdefault(node.value, set()).add(str(path.relative_to(REPO_ROOT)))
    return found


# ----- the six services against the interfaces -----


def test_the_six_standalone_services_are_registered(registry: ServiceRegistry[ServiceContext]) -> None:
    assert set(STANDALONE_SERVICE_NAMES) == set(IMPLEMENTS)
    for name in IMPLEMENTS:
        definition = registry.get(name)
        assert definition is not None, name
        # Moqui's /rpc/json only runs allow-remote services; so does ours.
        assert definition.allow_remote, name
        assert definition.implements == IMPLEMENTS[name], name


@pytest.mark.parametrize("name", sorted(IMPLEMENTS))
def test_parameters_are_the_interfaces(
    registry: ServiceRegistry[ServiceContext], interfaces: dict[str, etree._Element], name: str
) -> None:
    definition = registry.require(name)
    interface = interfaces[IMPLEMENTS[name]]
    assert _registered(definition.in_parameters) == _declared(interface, "in-parameters")
    assert _registered(definition.out_parameters) == _declared(interface, "out-parameters")


# ----- entities and fields -----


def test_every_entity_the_code_names_is_mantles_and_mirrored(mantle_entities: EntityRegistry) -> None:
    ours = load_entity_registry()
    named = {value: files for value, files in _string_constants().items() if ENTITY_NAME.fullmatch(value)}
    assert "mantle.account.method.PaymentGatewayResponse" in named  # the scan finds what it should
    problems = [
        f"{name} ({', '.join(sorted(files))}): "
        + ("not a Mantle/Moqui entity" if name not in mantle_entities else "")
        + ("" if name in ours.full_names else "not in our entity-defs, so its fields are unchecked")
        for name, files in sorted(named.items())
        if name not in mantle_entities or name not in ours.full_names
    ]
    assert problems == []


def test_response_fields_are_mantles_and_fit_its_columns(mantle_entities: EntityRegistry) -> None:
    mantle_pgr = mantle_entities.get(PGR)
    written = set(GatewayOutcome().response_fields()) | {
        # set by the response writer from the subject and the clock
        "paymentGatewayConfigId",
        "paymentOperationEnumId",
        "paymentId",
        "paymentMethodId",
        "amount",
        "amountUomId",
        "transactionDate",
    }
    assert written <= set(mantle_pgr.field_names), written - set(mantle_pgr.field_names)
    # Text limits by Moqui's default dictionary (not PostgreSQL's TEXT), so the rows fit any Moqui database.
    for name in written:
        moqui_type = mantle_pgr.field(name).type
        limit = max_length(DEFAULT_SQL_TYPES[moqui_type])
        if moqui_type == "text-short":
            assert limit == SHORT_TEXT, name
        elif moqui_type == "text-medium":
            assert limit == MESSAGE_TEXT, name
    assert mantle_pgr.field("reasonMessage").type == "text-medium"
    indicators = [name for name in written if mantle_pgr.field(name).type == "text-indicator"]
    assert sorted(indicators) == sorted(
        ["resultSuccess", "resultDeclined", "resultError", "resultNsf", "resultBadExpire", "resultBadCardNumber"]
    )
    # Every indicator is always written, Y or N: Mantle compares with 'Y' and treats null as no.
    filled = GatewayOutcome(result_declined=True, result_nsf=True).response_fields()
    assert {filled[name] for name in indicators} == {"Y", "N"}


# ----- seed data -----


def test_ids_the_code_uses_are_mantle_seed(
    mantle_seed: dict[tuple[str, tuple[Any, ...]], dict[str, str | None]],
) -> None:
    constants = _string_constants()
    statuses = {value for value in constants if PAYMENT_STATUS.fullmatch(value)}
    operations = {value for value in constants if PAYMENT_OPERATION.fullmatch(value)}
    operations |= {operation.payment_operation_enum_id for operation in GatewayOperation}
    assert {"PmntAuthorized", "PmntDelivered", "PmntDeclined"} <= statuses
    for status in sorted(statuses):
        row = mantle_seed.get(("moqui.basic.StatusItem", (status,)))
        assert row is not None and row.get("statusTypeId") == "Payment", f"{status} ({sorted(constants[status])})"
    for operation in sorted(operations):
        row = mantle_seed.get(("moqui.basic.Enumeration", (operation,)))
        assert row is not None and row.get("enumTypeId") == "PaymentOperation", operation


def test_our_mantle_seed_is_mantles_own(
    mantle_seed: dict[tuple[str, tuple[Any, ...]], dict[str, str | None]],
) -> None:
    # The standalone tables load moqui_bridge/data/MantleSeedData.xml in place of Mantle's seed; each of our rows
    # must be Mantle's row, field for field.
    ours = parse_data(load_entity_registry(), read_data_file(MANTLE_SEED_DATA))
    assert ours
    differences = []
    for record in ours:
        key = _key(record)
        if key in OURS_NOT_MANTLES:
            continue
        mantle = mantle_seed.get(key)
        if mantle is None:
            differences.append(f"{key}: not in Mantle's seed data")
            continue
        for field, value in record.values.items():
            if mantle.get(field) != value:
                differences.append(f"{key}.{field}: ours {value!r}, Mantle's {mantle.get(field)!r}")
    assert differences == []
