"""Every signed link the component makes goes through one script, sign#LinkQuery: get#SavedCardsUrl (issue 13's
Saved cards page) and get#CheckoutUrl, run as Moqui runs them (the script under real Groovy), make links the
service's own verifiers accept, for exactly the fields they were given, and refuse to sign without the secret."""

from __future__ import annotations

import time
import urllib.parse

import pytest

from moqui_bridge.component.writer import TEMPLATE_ROOT
from service.checkout.links import CheckoutLinkError, verify_checkout_query
from service.saved_cards.card_links import verify_saved_cards_query
from tests.moqui_harness.moqui_call import MoquiHarness
from tests.moqui_side.component_xml import parse

SAVED_CARDS = "stripe.StripeSavedCardServices.get#SavedCardsUrl"
CHECKOUT = "stripe.StripeCheckoutServices.get#CheckoutUrl"
LINK_SECRET = "shared-secret-for-signed-links"
SHOP = "https://shop.example.test"
SERVICE_FILES = sorted((TEMPLATE_ROOT / "service").rglob("*.xml"))


def signed_query(url_text: str, path: str) -> dict[str, str]:
    """The query of a link to the service's page at `path`."""
    url = urllib.parse.urlsplit(url_text)
    assert (url.scheme, url.netloc, url.path) == ("https", "pay.example.test", path)
    return dict(urllib.parse.parse_qsl(url.query))


@pytest.fixture
def signing_moqui(moqui: MoquiHarness) -> MoquiHarness:
    """The harness with the link secret and the service's public URL set as Moqui's System properties."""
    moqui.properties.update(
        {"moqui_stripe_link_secret": LINK_SECRET, "moqui_stripe_checkout_url": "https://pay.example.test"}
    )
    return moqui


def test_one_script_signs_every_link() -> None:
    scripts = [
        (path.name, service.get("noun"))
        for path in SERVICE_FILES
        for service in parse(path).getroot().iter("service")
        if any("HmacSHA256" in (script.text or "") for script in service.iter("script"))
    ]
    assert scripts == [("StripeStaffCardServices.xml", "LinkQuery")]


async def test_moqui_signs_saved_cards_links_the_service_accepts(signing_moqui: MoquiHarness) -> None:
    done_url = f"{SHOP}/account/cards?tab=ü&x=1"  # a non-ASCII value: lengths are counted in code points

    result = await signing_moqui.call(SAVED_CARDS, {"partyId": "CustJane", "doneUrl": done_url}, lock_payment=False)

    assert result.errors == [] and result.out is not None
    query = signed_query(result.out["savedCardsUrl"], "/stripe/SavedCards")
    link = verify_saved_cards_query(LINK_SECRET, query, (SHOP,))
    assert (link.customer_party_id, link.done_url) == ("CustJane", done_url)
    assert 3500 < link.expires - time.time() <= 3600  # an hour by default
    for name, value in (("customerPartyId", "CustJohn"), ("doneUrl", f"{SHOP}/elsewhere"), ("expires", "9999999999")):
        with pytest.raises(CheckoutLinkError, match="not valid"):
            verify_saved_cards_query(LINK_SECRET, {**query, name: value}, (SHOP,))
    # Its own kind: the same secret's saved-cards link is no checkout link.
    with pytest.raises(CheckoutLinkError):
        verify_checkout_query(LINK_SECRET, {**query, "orderId": "O1", "errorUrl": done_url}, (SHOP,))


async def test_a_saved_cards_link_lasts_as_long_as_asked(signing_moqui: MoquiHarness) -> None:
    parameters = {"partyId": "CustJane", "doneUrl": f"{SHOP}/cards", "expireSeconds": 120}

    result = await signing_moqui.call(SAVED_CARDS, parameters, lock_payment=False)

    assert result.out is not None
    link = verify_saved_cards_query(
        LINK_SECRET, signed_query(result.out["savedCardsUrl"], "/stripe/SavedCards"), (SHOP,)
    )
    assert 0 < link.expires - time.time() <= 120
    with pytest.raises(CheckoutLinkError, match="expired"):
        verify_saved_cards_query(
            LINK_SECRET, signed_query(result.out["savedCardsUrl"], "/stripe/SavedCards"), (SHOP,), now=link.expires + 1
        )


async def test_moqui_signs_checkout_links_through_the_same_script(signing_moqui: MoquiHarness) -> None:
    parameters = {
        "orderId": "O 1/ü",
        "customerPartyId": "CustJane",
        "doneUrl": f"{SHOP}/done?o=1",
        "errorUrl": f"{SHOP}/oops",
    }

    result = await signing_moqui.call(CHECKOUT, parameters, lock_payment=False)

    assert result.errors == [] and result.out is not None
    query = signed_query(result.out["checkoutUrl"], "/stripe/Checkout")
    link = verify_checkout_query(LINK_SECRET, query, (SHOP,))
    assert (link.order_id, link.customer_party_id, link.done_url, link.error_url) == tuple(
        parameters[name] for name in ("orderId", "customerPartyId", "doneUrl", "errorUrl")
    )
    assert 3500 < link.expires - time.time() <= 3600
    assert list(query) == ["orderId", "customerPartyId", "doneUrl", "errorUrl", "expires", "signature"]
    with pytest.raises(CheckoutLinkError, match="not valid"):
        verify_checkout_query(LINK_SECRET, {**query, "errorUrl": f"{SHOP}/other"}, (SHOP,))


@pytest.mark.parametrize(
    ("service", "parameters"),
    [
        (SAVED_CARDS, {"partyId": "CustJane", "doneUrl": f"{SHOP}/cards"}),
        (CHECKOUT, {"orderId": "O1", "customerPartyId": "CustJane", "doneUrl": f"{SHOP}/d", "errorUrl": f"{SHOP}/e"}),
    ],
    ids=["saved-cards", "checkout"],
)
async def test_without_the_secret_moqui_makes_no_link(
    moqui: MoquiHarness, service: str, parameters: dict[str, str]
) -> None:
    # Set empty, not left out: the Groovy runner's JVM keeps System properties an earlier test set.
    moqui.properties.update({"moqui_stripe_link_secret": "", "moqui_stripe_checkout_url": "https://pay.example.test"})

    result = await moqui.call(service, parameters, lock_payment=False)

    assert result.out is None
    assert result.errors == ["moqui-stripe links need moqui_stripe_link_secret and moqui_stripe_checkout_url"]
