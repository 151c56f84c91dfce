"""The Moqui component against Moqui's and Mantle's own files: schema, interfaces, seed data and REST paths."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path
from typing import cast

import pytest
from lxml import etree

from moqui_bridge.component.writer import GATEWAY_CONFIG_IDS, TEMPLATE_ROOT, Transport, write_component
from tests.moqui_side.component_xml import (
    Reference,
    add_enumerations,
    load_reference,
    parameters,
    parse,
    records_with_comments,
    services_in,
)

SERVER_URL = "https://payments.example.test:8443/moqui-stripe"
# Characters that must survive XML, Moqui's ${} expansion and the query string unchanged.
API_KEY = "k&e\"y<'>${paymentId}+/ ?#%ü"
ENCODED_KEY = urllib.parse.quote(API_KEY, safe="")

INTERFACES = "mantle.account.PaymentServices"
# Our service name -> the Mantle interface it implements.
PAYMENT_SERVICES = {
    "stripe.StripePaymentServices.authorize#Payment": f"{INTERFACES}.authorize#Payment",
    "stripe.StripePaymentServices.authorizeAndCapture#Payment": f"{INTERFACES}.authorize#Payment",
    "stripe.StripePaymentServices.capture#Payment": f"{INTERFACES}.capture#Payment",
    "stripe.StripePaymentServices.release#Payment": f"{INTERFACES}.release#Payment",
    "stripe.StripePaymentServices.refund#Payment": f"{INTERFACES}.refund#Payment",
    "stripe.StripePaymentServices.get#PaymentGatewayDetails": f"{INTERFACES}.get#PaymentGatewayDetails",
}
CHECKOUT_SERVICE = "stripe.StripeCheckoutServices.get#CheckoutUrl"
# Our REST API for the remote-rest variants: service -> (HTTP method, path under the server URL).
REST_ROUTES = {
    "stripe.StripePaymentServices.authorize#Payment": ("POST", "/rest/s1/stripe/payments/{paymentId}/authorize"),
    "stripe.StripePaymentServices.authorizeAndCapture#Payment": (
        "POST",
        "/rest/s1/stripe/payments/{paymentId}/authorizeAndCapture",
    ),
    "stripe.StripePaymentServices.capture#Payment": ("POST", "/rest/s1/stripe/payments/{paymentId}/capture"),
    "stripe.StripePaymentServices.release#Payment": ("POST", "/rest/s1/stripe/payments/{paymentId}/release"),
    "stripe.StripePaymentServices.refund#Payment": ("POST", "/rest/s1/stripe/payments/{paymentId}/refund"),
    "stripe.StripePaymentServices.get#PaymentGatewayDetails": (
        "GET",
        "/rest/s1/stripe/payments/{paymentId}/gatewayDetails",
    ),
}
# PaymentGatewayConfig field -> the interface its service must implement.
CONFIG_SERVICE_FIELDS = {
    "authorizeServiceName": f"{INTERFACES}.authorize#Payment",
    "captureServiceName": f"{INTERFACES}.capture#Payment",
    "releaseServiceName": f"{INTERFACES}.release#Payment",
    "refundServiceName": f"{INTERFACES}.refund#Payment",
    "detailsServiceName": f"{INTERFACES}.get#PaymentGatewayDetails",
}
SERVICE_TEMPLATES = {
    "StripePaymentServices.xml": "stripe.StripePaymentServices",
    # Installed under StripePaymentServices.xml, but read here as the file it is.
    "StripePaymentRestServices.xml": "stripe.StripePaymentRestServices",
    "StripeCheckoutServices.xml": "stripe.StripeCheckoutServices",
}
DOLLAR_BRACE = re.compile(r"\$\{([^}]*)\}")


@pytest.fixture(scope="module")
def components(tmp_path_factory: pytest.TempPathFactory) -> dict[Transport, Path]:
    """The component written for each transport."""
    written: dict[Transport, Path] = {}
    for transport in ("json-rpc", "rest"):
        out_dir = tmp_path_factory.mktemp(f"component-{transport}") / "moqui-stripe"
        write_component(out_dir, server_url=SERVER_URL + "/", api_key=API_KEY, transport=transport)
        written[transport] = out_dir
    return written


@pytest.fixture(scope="module")
def reference(moqui_reference: Path) -> Reference:
    return load_reference(moqui_reference)


@pytest.fixture(scope="module")
def interfaces(moqui_reference: Path) -> dict[str, etree._Element]:
    return services_in(moqui_reference / "mantle-usl" / "service" / "PaymentServices-interfaces.xml", INTERFACES)


def written_services(component: Path) -> dict[str, etree._Element]:
    folder = component / "service" / "stripe"
    return {
        **services_in(folder / "StripePaymentServices.xml", "stripe.StripePaymentServices"),
        **services_in(folder / "StripeCheckoutServices.xml", "stripe.StripeCheckoutServices"),
    }


def template_services() -> dict[str, etree._Element]:
    found: dict[str, etree._Element] = {}
    for file_name, package in SERVICE_TEMPLATES.items():
        found.update(services_in(TEMPLATE_ROOT / "service" / "stripe" / file_name, package))
    return found


# ----- schema -----


def test_the_schema_accepts_mantles_own_interfaces_and_rejects_a_broken_service(
    service_schema: etree.XMLSchema, moqui_reference: Path
) -> None:
    # A check that the schema (with its stand-in for xml-actions) is loaded and strict before trusting it below.
    assert service_schema.validate(parse(moqui_reference / "mantle-usl" / "service" / "PaymentServices-interfaces.xml"))
    broken = etree.fromstring(b'<services><service verb="get" noun="Details" type="remote-soap"/></services>')
    assert not service_schema.validate(broken)


@pytest.mark.parametrize("file_name", sorted(SERVICE_TEMPLATES))
def test_service_templates_validate_against_the_service_schema(service_schema: etree.XMLSchema, file_name: str) -> None:
    document = parse(TEMPLATE_ROOT / "service" / "stripe" / file_name)
    assert service_schema.validate(document), service_schema.error_log


@pytest.mark.parametrize("transport", ["json-rpc", "rest"])
def test_written_service_files_validate_against_the_service_schema(
    service_schema: etree.XMLSchema, components: dict[Transport, Path], transport: Transport
) -> None:
    files = sorted((components[transport] / "service").rglob("*.xml"))
    assert [path.name for path in files] == ["StripeCheckoutServices.xml", "StripePaymentServices.xml"]
    for path in files:
        assert service_schema.validate(parse(path)), f"{path.name}: {service_schema.error_log}"


# ----- the Mantle interfaces -----


def test_interfaces_declare_what_the_contract_notes_say(interfaces: dict[str, etree._Element]) -> None:
    assert set(interfaces) == set(PAYMENT_SERVICES.values())
    assert all(service.get("type") == "interface" for service in interfaces.values())


@pytest.mark.parametrize("source", ["templates", "json-rpc", "rest"])
def test_payment_services_declare_exactly_the_parameters_of_their_interface(
    interfaces: dict[str, etree._Element], components: dict[Transport, Path], source: str
) -> None:
    services = template_services() if source == "templates" else written_services(components[cast(Transport, source)])
    implementing = {name: service for name, service in services.items() if service.find("implements") is not None}
    expected_count = 12 if source == "templates" else 6  # the json-rpc and rest templates, or one installed set
    assert len(implementing) == expected_count
    for name, service in implementing.items():
        implemented = [node.get("service") for node in service.findall("implements")]
        assert len(implemented) == 1, name
        short_name = name.split(".")[-1]
        assert implemented[0] == PAYMENT_SERVICES[f"stripe.StripePaymentServices.{short_name}"], name
        interface = interfaces[implemented[0]]
        for section in ("in-parameters", "out-parameters"):
            assert parameters(service, section) == parameters(interface, section), f"{name} {section}"


@pytest.mark.parametrize("transport", ["json-rpc", "rest"])
def test_written_component_has_our_service_names(components: dict[Transport, Path], transport: Transport) -> None:
    services = written_services(components[transport])
    assert set(services) == {*PAYMENT_SERVICES, CHECKOUT_SERVICE}
    for name in PAYMENT_SERVICES:
        expected_type = "remote-json-rpc" if transport == "json-rpc" else "remote-rest"
        assert services[name].get("type") == expected_type, name
    assert services[CHECKOUT_SERVICE].get("type") == "remote-json-rpc"


def test_checkout_service_declares_the_servers_parameters(components: dict[Transport, Path]) -> None:
    service = written_services(components["json-rpc"])[CHECKOUT_SERVICE]
    assert service.find("implements") is None
    assert parameters(service, "in-parameters") == {
        "orderId": ("String", True),
        "customerPartyId": ("String", True),
        "doneUrl": ("String", True),
        "errorUrl": ("String", True),
        "expireSeconds": ("Integer", False),
    }
    assert parameters(service, "out-parameters") == {"checkoutUrl": ("String", False)}


# ----- locations: URL and key filled in, nothing Moqui would expand by mistake -----


def test_json_rpc_services_call_our_rpc_endpoint_with_our_service_names(components: dict[Transport, Path]) -> None:
    expected_location = f"{SERVER_URL}/rpc/json?api_key={ENCODED_KEY}"
    services = written_services(components["json-rpc"])
    for name, service in services.items():
        assert service.get("location") == expected_location, name
        # The JSON-RPC method is the server's service name, identical to the Moqui-side name.
        assert service.get("method") == name


@pytest.mark.parametrize("transport", ["json-rpc", "rest"])
def test_no_template_marker_and_no_stray_expansion_is_left(
    components: dict[Transport, Path], transport: Transport
) -> None:
    component = components[transport]
    for path in sorted(component.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        assert "@@" not in text, path.name
        assert API_KEY not in text, f"{path.name} holds the key unencoded"
        if path.suffix != ".xml":
            assert "${" not in text, path.name
            continue
        # ${...} may appear only in remote-rest locations, and only naming an in-parameter of that service.
        allowed: dict[str, set[str]] = {}
        for service in parse(path).getroot().iter("service"):
            location = service.get("location", "")
            if service.get("type") == "remote-rest":
                allowed[location] = set(parameters(service, "in-parameters"))
            else:
                assert "${" not in location, path.name
        for location, names in allowed.items():
            assert set(DOLLAR_BRACE.findall(location)) <= names, location
        text_without_locations = text
        for location in allowed:
            text_without_locations = text_without_locations.replace(location.replace("&", "&amp;"), "")
        assert "${" not in text_without_locations, path.name


def test_rest_services_use_our_rest_paths_and_explicit_methods(components: dict[Transport, Path]) -> None:
    services = written_services(components["rest"])
    for name, (http_method, path_template) in REST_ROUTES.items():
        service = services[name]
        # Explicit: left out, the runner would derive GET/POST from the verb.
        assert service.get("method") == http_method, name
        location = urllib.parse.urlsplit(service.get("location", ""))
        assert f"{location.scheme}://{location.netloc}" == "https://payments.example.test:8443"
        assert location.path == "/moqui-stripe" + path_template.replace("{paymentId}", "${paymentId}"), name
        query = urllib.parse.parse_qs(location.query, keep_blank_values=True)
        assert query["api_key"] == [API_KEY], name


# ----- data -----


def test_component_xml_names_the_component_and_depends_on_mantle(components: dict[Transport, Path]) -> None:
    for component in components.values():
        root = parse(component / "component.xml").getroot()
        assert root.tag == "component"
        assert root.get("name") == "moqui-stripe"
        assert [node.get("name") for node in root.findall("depends-on")] == ["mantle-usl"]


def test_data_files_have_the_right_types() -> None:
    setup = parse(TEMPLATE_ROOT / "data" / "StripeSetupData.xml").getroot()
    demo = parse(TEMPLATE_ROOT / "data" / "StripeDemoData.xml").getroot()
    assert (setup.tag, setup.get("type")) == ("entity-facade-xml", "seed")
    assert (demo.tag, demo.get("type")) == ("entity-facade-xml", "demo")


def test_data_records_use_mantle_entities_fields_and_enumerations(reference: Reference) -> None:
    ours = Reference(enum_types=set(reference.enum_types), enums=dict(reference.enums))
    add_enumerations(ours, parse(TEMPLATE_ROOT / "data" / "StripeSetupData.xml").getroot())
    records = [
        *records_with_comments(TEMPLATE_ROOT / "data" / "StripeSetupData.xml"),
        *records_with_comments(TEMPLATE_ROOT / "data" / "StripeDemoData.xml"),
    ]
    # The commented ProductStorePaymentGateway example is checked too: people will uncomment it as it is.
    assert {record.tag for record in records} == {
        "moqui.basic.Enumeration",
        "mantle.account.method.PaymentGatewayConfig",
        "mantle.product.store.ProductStorePaymentGateway",
    }
    for record in records:
        entity = reference.entities[record.tag]
        assert set(record.attrib) <= entity.fields, record.tag
        for field_name, enum_type in entity.enum_fields.items():
            value = record.get(field_name)
            if value:
                assert ours.enums.get(value) == enum_type, f"{record.tag}.{field_name}={value}"


def test_seed_declares_only_what_mantle_lacks(reference: Reference) -> None:
    seed = parse(TEMPLATE_ROOT / "data" / "StripeSetupData.xml").getroot()
    declared = {enum.get("enumId"): enum.get("enumTypeId") for enum in seed.iter("moqui.basic.Enumeration")}
    assert declared == {"PgtStripe": "PaymentGatewayType"}
    assert "PgtStripe" not in reference.enums
    assert "PaymentGatewayType" in reference.enum_types


def test_payment_operations_we_rely_on_are_mantle_seed(reference: Reference) -> None:
    # The operations the server writes on PaymentGatewayResponse are listed in our seed file's header.
    root = parse(TEMPLATE_ROOT / "data" / "StripeSetupData.xml").getroot()
    comments = [*root.itersiblings(etree.Comment, preceding=True), *root.iter(etree.Comment)]
    comment = "".join(node.text or "" for node in comments)
    operations = set(re.findall(r"\bPgo[A-Za-z]+", comment))
    assert operations == {"PgoAuthorize", "PgoAuthAndCapture", "PgoCapture", "PgoRelease", "PgoRefund", "PgoTxDetails"}
    for operation in operations:
        assert reference.enums.get(operation) == "PaymentOperation", operation


@pytest.mark.parametrize("transport", ["json-rpc", "rest"])
def test_gateway_configs_name_installed_services_of_the_right_interface(
    components: dict[Transport, Path], transport: Transport
) -> None:
    services = written_services(components[transport])
    configs = {
        record.get("paymentGatewayConfigId"): record
        for record in parse(components[transport] / "data" / "StripeDemoData.xml").getroot()
        if record.tag == "mantle.account.method.PaymentGatewayConfig"
    }
    assert tuple(configs) == GATEWAY_CONFIG_IDS
    for config_id, config in configs.items():
        assert config.get("paymentGatewayTypeEnumId") == "PgtStripe"
        for field_name, interface in CONFIG_SERVICE_FIELDS.items():
            name = config.get(field_name)
            if not name:
                continue
            implemented = services[name].find("implements")
            assert implemented is not None and implemented.get("service") == interface, f"{config_id}.{field_name}"
    split, at_once = (configs[config_id] for config_id in GATEWAY_CONFIG_IDS)
    assert split.get("authorizeServiceName") == "stripe.StripePaymentServices.authorize#Payment"
    assert split.get("captureServiceName") == "stripe.StripePaymentServices.capture#Payment"
    assert split.get("detailsServiceName") == "stripe.StripePaymentServices.get#PaymentGatewayDetails"
    assert at_once.get("authorizeServiceName") == "stripe.StripePaymentServices.authorizeAndCapture#Payment"
    # Empty capture: Mantle then skips capture, the PgoAuthAndCapture response has already delivered the Payment.
    assert at_once.get("captureServiceName") == ""
