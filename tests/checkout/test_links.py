"""Signed checkout links: tampering, expiry and open-redirect refusal."""

from __future__ import annotations

import pytest

from service.checkout.links import (
    CheckoutLinkError,
    checkout_url,
    sign_checkout_query,
    verify_checkout_query,
)

SECRET = "link-secret-for-tests"
ORIGINS = ("https://shop.example",)


def _query(**overrides: str) -> dict[str, str]:
    query = sign_checkout_query(
        SECRET,
        order_id="100010",
        customer_party_id="CustJane",
        done_url="https://shop.example/done",
        error_url="https://shop.example/error",
        lifetime_seconds=600,
        now=1_000_000,
    )
    query.update(overrides)
    return query


def test_a_signed_link_verifies_and_says_what_was_signed() -> None:
    link = verify_checkout_query(SECRET, _query(), ORIGINS, now=1_000_100)
    assert (link.order_id, link.customer_party_id) == ("100010", "CustJane")
    assert (link.done_url, link.error_url, link.expires) == (
        "https://shop.example/done",
        "https://shop.example/error",
        1_000_600,
    )


@pytest.mark.parametrize(
    "field,value",
    [
        ("orderId", "100011"),
        ("customerPartyId", "CustJohn"),
        ("doneUrl", "https://shop.example/done2"),
        ("errorUrl", "https://shop.example/"),
        ("expires", "1000601"),
        ("signature", "AAAA"),
    ],
)
def test_every_signed_field_is_protected(field: str, value: str) -> None:
    with pytest.raises(CheckoutLinkError, match="not valid"):
        verify_checkout_query(SECRET, _query(**{field: value}), ORIGINS, now=1_000_100)


def test_a_link_signed_with_another_secret_is_refused() -> None:
    with pytest.raises(CheckoutLinkError, match="not valid"):
        verify_checkout_query("another-secret", _query(), ORIGINS, now=1_000_100)


def test_an_expired_link_is_refused() -> None:
    with pytest.raises(CheckoutLinkError, match="expired"):
        verify_checkout_query(SECRET, _query(), ORIGINS, now=1_000_601)


@pytest.mark.parametrize("missing", ["signature", "orderId", "doneUrl"])
def test_an_unsigned_or_incomplete_link_is_refused(missing: str) -> None:
    query = _query()
    del query[missing]
    with pytest.raises(CheckoutLinkError, match="incomplete or unsigned"):
        verify_checkout_query(SECRET, query, ORIGINS, now=1_000_100)


@pytest.mark.parametrize(
    "done_url",
    ["https://evil.example/done", "javascript:alert(1)", "//evil.example/x", "http://shop.example/done"],
)
def test_a_validly_signed_foreign_redirect_is_still_refused(done_url: str) -> None:
    query = sign_checkout_query(
        SECRET,
        order_id="100010",
        customer_party_id="CustJane",
        done_url=done_url,
        error_url="https://shop.example/error",
        lifetime_seconds=600,
        now=1_000_000,
    )
    with pytest.raises(CheckoutLinkError, match="not allowed"):
        verify_checkout_query(SECRET, query, ORIGINS, now=1_000_100)


def test_the_url_carries_the_signed_query() -> None:
    url = checkout_url("http://127.0.0.1:8080/", _query())
    assert url.startswith("http://127.0.0.1:8080/stripe/Checkout?orderId=100010&")
    assert "signature=" in url and "doneUrl=https%3A%2F%2Fshop.example%2Fdone" in url
