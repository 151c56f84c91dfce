"""The component's staff card screen and services (issue 13, item 3): the screen is valid against Moqui's screen
schema, its transition names the logged-in user as the agent, and get#StaffCardUrl (run as Moqui runs it, its
signing script under real Groovy) makes links the service's staff page accepts and nothing else."""

from __future__ import annotations

import time
import urllib.parse
from pathlib import Path

import pytest
from lxml import etree

from moqui_bridge.component.writer import TEMPLATE_ROOT, write_component
from service.staff_cards.staff_links import StaffLinkError, verify_staff_card_query
from tests.moqui_harness.moqui_call import MoquiHarness
from tests.moqui_harness.xsd import validation_errors
from tests.moqui_side.component_xml import parse

SCREEN = TEMPLATE_ROOT / "screen" / "StripeStaffCard.xml"
SERVICE = "stripe.StripeStaffCardServices.get#StaffCardUrl"
LINK_SECRET = "shared-secret-for-staff-links"


def test_the_screen_validates_against_moquis_screen_schema() -> None:
    assert validation_errors(SCREEN) == []


def test_the_screen_schema_refuses_what_moqui_screens_do_not_have(tmp_path: Path) -> None:
    broken = tmp_path / "Broken.xml"
    text = SCREEN.read_text(encoding="utf-8")
    broken.write_text(text.replace("<container-box>", "<container-box><blink>hi</blink>"), encoding="utf-8")
    assert any("blink" in error for error in validation_errors(broken))
    missing = tmp_path / "Missing.xml"
    missing.write_text(text.replace('<transition name="enterCard">', "<transition>"), encoding="utf-8")
    assert any("name" in error for error in validation_errors(missing))


def test_the_transition_signs_for_the_logged_in_user_and_opens_a_new_tab() -> None:
    screen = parse(SCREEN).getroot()
    [transition] = screen.findall("transition")
    [call] = transition.iter("service-call")
    assert call.get("name") == SERVICE
    assert "agentUserId:ec.user.userId" in " ".join((call.get("in-map") or "").split())
    response = transition.find("default-response")
    assert response is not None and response.get("url-type") == "plain"
    [link] = screen.iter("link")
    assert (link.get("url"), link.get("target-window")) == ("enterCard", "_blank")


def test_the_written_component_carries_the_screen(tmp_path: Path) -> None:
    write_component(tmp_path / "c", server_url="https://pay.example.test")
    written = tmp_path / "c" / "screen" / "StripeStaffCard.xml"
    assert etree.tostring(etree.parse(str(written))) == etree.tostring(etree.parse(str(SCREEN)))


async def test_moqui_signs_staff_links_the_service_accepts(moqui: MoquiHarness) -> None:
    moqui.properties.update(
        {"moqui_stripe_link_secret": LINK_SECRET, "moqui_stripe_checkout_url": "https://pay.example.test"}
    )
    parameters = {"partyId": "CustJane", "agentUserId": "agent.jo", "paymentGatewayConfigId": "StripeGateway"}

    result = await moqui.call(SERVICE, parameters, lock_payment=False)

    assert result.errors == [] and result.out is not None
    url = urllib.parse.urlsplit(result.out["staffCardUrl"])
    assert (url.scheme, url.netloc, url.path) == ("https", "pay.example.test", "/stripe/StaffCard")
    query = dict(urllib.parse.parse_qsl(url.query))
    link = verify_staff_card_query(LINK_SECRET, query)
    assert (link.party_id, link.payment_gateway_config_id, link.agent_user_id) == (
        "CustJane",
        "StripeGateway",
        "agent.jo",
    )
    assert 0 < link.expires - time.time() <= 900  # a quarter of an hour by default
    for name, value in (("partyId", "CustJohn"), ("agentUserId", "someone.else"), ("expires", str(link.expires + 1))):
        with pytest.raises(StaffLinkError, match="not valid"):
            verify_staff_card_query(LINK_SECRET, {**query, name: value})


async def test_without_the_secret_moqui_makes_no_link(moqui: MoquiHarness) -> None:
    # Set empty, not left out: the Groovy runner's JVM keeps System properties an earlier test set.
    moqui.properties.update({"moqui_stripe_link_secret": "", "moqui_stripe_checkout_url": "https://pay.example.test"})
    parameters = {"partyId": "CustJane", "agentUserId": "agent.jo", "paymentGatewayConfigId": "StripeGateway"}

    result = await moqui.call(SERVICE, parameters, lock_payment=False)

    assert result.out is None
    assert result.errors == ["moqui-stripe links need moqui_stripe_link_secret and moqui_stripe_checkout_url"]
