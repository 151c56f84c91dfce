"""Staff links: signed by the application with the shared secret, for one party, gateway config and agent, for a
short while; a checkout link's signature never opens the staff page."""

from __future__ import annotations

import time

import pytest

from service.checkout.links import sign_checkout_query
from service.staff_cards.staff_links import StaffLinkError, sign_staff_card_query, verify_staff_card_query

SECRET = "staff-link-secret"


def _link(**overrides: object) -> dict[str, str]:
    fields: dict[str, object] = {
        "party_id": "CustJane",
        "payment_gateway_config_id": "StripeGateway",
        "agent_user_id": "agent.jo",
        **overrides,
    }
    return sign_staff_card_query(SECRET, **fields)  # type: ignore[arg-type]


def test_a_signed_link_verifies_with_what_it_names() -> None:
    link = verify_staff_card_query(SECRET, _link())
    assert (link.party_id, link.payment_gateway_config_id, link.agent_user_id) == (
        "CustJane",
        "StripeGateway",
        "agent.jo",
    )
    assert 0 < link.expires - time.time() <= 900


@pytest.mark.parametrize("name", ["partyId", "paymentGatewayConfigId", "agentUserId", "expires", "signature"])
def test_a_changed_field_is_refused(name: str) -> None:
    query = _link()
    query[name] = query[name] + "1"
    with pytest.raises(StaffLinkError) as refused:
        verify_staff_card_query(SECRET, query)
    assert refused.value.problem == "invalid"


@pytest.mark.parametrize("name", ["partyId", "paymentGatewayConfigId", "agentUserId", "expires", "signature"])
def test_a_missing_field_is_refused(name: str) -> None:
    query = _link()
    del query[name]
    with pytest.raises(StaffLinkError, match="incomplete"):
        verify_staff_card_query(SECRET, query)


def test_an_old_link_has_expired() -> None:
    query = _link(lifetime_seconds=60, now=time.time() - 3600)
    with pytest.raises(StaffLinkError) as refused:
        verify_staff_card_query(SECRET, query)
    assert refused.value.problem == "expired"


def test_other_secrets_and_odd_values_are_refused() -> None:
    with pytest.raises(StaffLinkError):
        verify_staff_card_query("another-secret", _link())
    with pytest.raises(StaffLinkError):
        verify_staff_card_query("", _link())
    with pytest.raises(StaffLinkError, match="malformed"):
        verify_staff_card_query(SECRET, {**_link(), "expires": "1" * 30})
    with pytest.raises(StaffLinkError):
        verify_staff_card_query(SECRET, {**_link(), "partyId": "Cust\x00Jane"})
    with pytest.raises(ValueError):
        sign_staff_card_query("", party_id="P", payment_gateway_config_id="G", agent_user_id="A")


def test_a_checkout_signature_does_not_open_the_staff_page() -> None:
    # Same secret, same field values in the same places: only the version tag differs.
    checkout = sign_checkout_query(
        SECRET,
        order_id="CustJane",
        customer_party_id="StripeGateway",
        done_url="agent.jo",
        error_url="x",
        lifetime_seconds=600,
    )
    query = {**_link(), "signature": checkout["signature"]}
    with pytest.raises(StaffLinkError, match="not valid"):
        verify_staff_card_query(SECRET, query)
