"""The component's XML against Moqui's and Mantle's own files: schemas, the interpreter's subset, interfaces, data.

The interpreter (tests/moqui_harness/xml_actions.py) runs the component's actions in the other tests; these tests
make sure it never has to guess: every element and expression the component uses is in its declared subset, and
every expression of the subset gives under real Groovy what the interpreter gives.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from moqui_bridge.component.writer import GATEWAY_CONFIG_IDS, TEMPLATE_ROOT, write_component
from tests.moqui_harness.expressions import EntityValue, Expression, GroovyError, UnsupportedExpression
from tests.moqui_harness.groovy_runner import GroovyRunner, GroovyScriptError
from tests.moqui_harness.xml_actions import ELEMENTS, ServiceCatalogue, UnsupportedElement
from tests.moqui_harness.xsd import validation_errors
from tests.moqui_side.component_xml import parse
from tests.reference import MOQUI_REFERENCE

INTERFACES = "mantle.account.PaymentServices"
PAYMENT_SERVICES = {
    "stripe.StripePaymentServices.authorize#Payment": f"{INTERFACES}.authorize#Payment",
    "stripe.StripePaymentServices.authorizeAndCapture#Payment": f"{INTERFACES}.authorize#Payment",
    "stripe.StripePaymentServices.capture#Payment": f"{INTERFACES}.capture#Payment",
    "stripe.StripePaymentServices.release#Payment": f"{INTERFACES}.release#Payment",
    "stripe.StripePaymentServices.refund#Payment": f"{INTERFACES}.refund#Payment",
    "stripe.StripePaymentServices.get#PaymentGatewayDetails": f"{INTERFACES}.get#PaymentGatewayDetails",
}
CONFIG_SERVICE_FIELDS = {
    "authorizeServiceName": f"{INTERFACES}.authorize#Payment",
    "captureServiceName": f"{INTERFACES}.capture#Payment",
    "releaseServiceName": f"{INTERFACES}.release#Payment",
    "refundServiceName": f"{INTERFACES}.refund#Payment",
    "detailsServiceName": f"{INTERFACES}.get#PaymentGatewayDetails",
}
# Attributes holding a Groovy expression, and those holding a GString (Moqui wraps them in triple quotes).
EXPRESSION_ATTRIBUTES = {"from", "condition", "in-map"}
GSTRING_ATTRIBUTES = {"message", "value"}
SERVICE_FILES = sorted((TEMPLATE_ROOT / "service").rglob("*.xml"))


def _actions_elements() -> list[tuple[str, etree._Element]]:
    found: list[tuple[str, etree._Element]] = []
    for path in SERVICE_FILES:
        for service in parse(path).getroot().iter("service"):
            actions = service.find("actions")
            if actions is not None:
                found += [(f"{path.name}:{element.sourceline}", element) for element in actions.iterdescendants()]
    return found


def _expressions() -> list[str]:
    texts: list[str] = []
    for _, element in _actions_elements():
        if not isinstance(element.tag, str):
            continue
        for attribute in EXPRESSION_ATTRIBUTES & set(element.attrib):
            texts.append(element.get(attribute, ""))
        for attribute in GSTRING_ATTRIBUTES & set(element.attrib):
            texts += re.findall(r"\$\{([^}]*)\}", element.get(attribute, ""))
    return texts


@pytest.mark.parametrize("path", [*SERVICE_FILES, TEMPLATE_ROOT / "component.xml"], ids=lambda p: p.name)
def test_component_files_validate_against_moquis_schemas(path: Path) -> None:
    assert validation_errors(path) == []


def test_the_written_moqui_conf_validates(tmp_path: Path) -> None:
    write_component(tmp_path / "c", server_url="https://pay.example.test", api_key="k")
    assert validation_errors(tmp_path / "c" / "MoquiConf.xml") == []


def test_the_schemas_refuse_an_element_moqui_does_not_have(tmp_path: Path) -> None:
    broken = tmp_path / "Broken.xml"
    source = (TEMPLATE_ROOT / "service" / "stripe" / "StripePaymentServices.xml").read_text(encoding="utf-8")
    broken.write_text(source.replace("<service-call ", "<service-invoke ", 1), encoding="utf-8")
    assert validation_errors(broken)


def test_every_element_the_component_uses_is_in_the_interpreters_subset() -> None:
    used = {str(element.tag) for _, element in _actions_elements() if isinstance(element.tag, str)}
    assert used <= set(ELEMENTS), used - set(ELEMENTS)
    for where, element in _actions_elements():
        if isinstance(element.tag, str):
            assert set(element.attrib) <= ELEMENTS[str(element.tag)], where


def test_every_expression_the_component_uses_parses_in_the_subset() -> None:
    texts = _expressions()
    assert len(texts) > 20
    for text in texts:
        Expression(text)  # raises UnsupportedExpression otherwise


@pytest.mark.parametrize(
    "text", ["payment.amount * 2", "ec.user.userId", "list.size()", "a ? b : c", '"double"', "[a:1]['a']", "x in y"]
)
def test_the_subset_refuses_other_groovy(text: str) -> None:
    with pytest.raises(UnsupportedExpression):
        Expression(text)


def test_the_interpreter_refuses_an_element_outside_the_subset() -> None:
    catalogue = ServiceCatalogue.load(TEMPLATE_ROOT / "service", {INTERFACES: _mantle_payment_services()})
    assert set(PAYMENT_SERVICES) <= set(catalogue.services)
    with pytest.raises(UnsupportedElement):
        from tests.moqui_harness.xml_actions import _check_attributes

        _check_attributes(etree.fromstring('<iterate list="x" entry="y"/>'))


def _mantle_payment_services() -> Path:
    return MOQUI_REFERENCE / "mantle-usl" / "service" / "PaymentServices.xml"


# ----- the subset evaluated by real Groovy gives what the interpreter gives -----


def _sample_contexts(expression: Expression) -> list[dict[str, Any]]:
    names = set(re.findall(r"(?<![.\w'])([A-Za-z_]\w*)", re.sub(r"'[^']*'", "''", expression.text)))
    names -= {"null", "true", "false"}
    names -= set(re.findall(r"([A-Za-z_]\w*)\s*:", expression.text))  # map keys
    properties = set(re.findall(r"\??\.([A-Za-z_]\w*)", expression.text))
    indexed = set(re.findall(r"([A-Za-z_]\w*)\[\d", expression.text))
    record = {name: f"{name}-value" for name in properties}
    choices: list[list[Any]] = []
    for name in sorted(names):
        if name in indexed:
            choices.append([[], [dict(record)]])
        elif properties:
            choices.append([None, dict(record), {}])
        else:
            choices.append([None, "", "text", 0, 2])
    return [
        dict(zip(sorted(names), values, strict=True)) for values in itertools.islice(itertools.product(*choices), 12)
    ]


async def test_the_subset_gives_what_groovy_gives(groovy_runner: GroovyRunner) -> None:
    compared = 0
    for text in sorted(set(_expressions())):
        expression = Expression(text)
        for context in _sample_contexts(expression):
            try:
                expected: Any = expression.evaluate(context)
                python_outcome = ("value", expected)
            except GroovyError:
                python_outcome = ("error", None)
            try:
                script = await groovy_runner.run(f"result = ({text})", context, {})
                groovy_outcome = ("value", script.variables["result"])
            except GroovyScriptError:
                groovy_outcome = ("error", None)
            assert python_outcome == groovy_outcome, (text, context)
            compared += 1
    assert compared > 50


def test_entity_values_refuse_unknown_fields_as_moqui_does() -> None:
    value = EntityValue("mantle.account.payment.Payment", frozenset({"paymentId"}), {"paymentId": "1"})
    assert Expression("payment.paymentId").evaluate({"payment": value}) == "1"
    with pytest.raises(GroovyError, match="not valid for entity"):
        Expression("payment.paymentRef").evaluate({"payment": value})


# ----- interfaces and data -----


def test_gateway_services_implement_mantles_interfaces() -> None:
    catalogue = ServiceCatalogue.load(TEMPLATE_ROOT / "service", {INTERFACES: _mantle_payment_services()})
    services = {
        f"stripe.StripePaymentServices.{s.get('verb')}#{s.get('noun')}": s
        for s in parse(TEMPLATE_ROOT / "service" / "stripe" / "StripePaymentServices.xml").getroot().iter("service")
    }
    assert {name: s.find("implements").get("service") for name, s in services.items()} == PAYMENT_SERVICES  # type: ignore[union-attr]
    for name, interface in PAYMENT_SERVICES.items():
        ours = catalogue.services[name]
        assert ours.in_parameters.keys() >= {"paymentId", "paymentGatewayConfigId"}
        assert "paymentGatewayResponseId" in ours.out_parameters, interface


def test_gateway_configs_name_services_of_the_right_interface() -> None:
    configs = {
        record.get("paymentGatewayConfigId"): record
        for path in (TEMPLATE_ROOT / "data").glob("*.xml")
        for record in parse(path).getroot()
        if record.tag == "mantle.account.method.PaymentGatewayConfig"
    }
    assert tuple(configs) == GATEWAY_CONFIG_IDS
    for config_id, config in configs.items():
        assert config.get("paymentGatewayTypeEnumId") == "PgtStripe"
        for field_name, interface in CONFIG_SERVICE_FIELDS.items():
            if config.get(field_name):
                assert PAYMENT_SERVICES[config.get(field_name, "")] == interface, f"{config_id}.{field_name}"
    assert configs["StripeGatewayAuthCapture"].get("captureServiceName") == ""
