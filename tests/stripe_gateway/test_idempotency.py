"""Idempotency keys: derived from our ids, stable, distinct per operation, payment intent and attempt."""

from __future__ import annotations

import re

import pytest

from service.stripe_gateway.idempotency import MAX_KEY_LENGTH, GatewayOperation, IdempotencyKeyError, idempotency_key


def test_key_is_derived_from_our_ids() -> None:
    key = idempotency_key("StripeGateway", "100000", GatewayOperation.AUTHORIZE, 0)
    assert key == "moqui-stripe/StripeGateway/100000/authorize/0"
    # A repeated call must reach Stripe with the same key.
    assert idempotency_key("StripeGateway", "100000", GatewayOperation.AUTHORIZE, 0) == key


def test_key_names_the_payment_intent_for_calls_on_one() -> None:
    key = idempotency_key("StripeGateway", "100000", GatewayOperation.CAPTURE, 0, payment_intent_id="pi_123")
    assert key == "moqui-stripe/StripeGateway/100000/capture/pi_123/0"


def test_every_part_makes_a_distinct_key() -> None:
    keys = {
        idempotency_key("StripeGateway", "100000", GatewayOperation.REFUND, 0, payment_intent_id="pi_1"),
        # two equal partial refunds are two refunds: the attempt number tells them apart
        idempotency_key("StripeGateway", "100000", GatewayOperation.REFUND, 1, payment_intent_id="pi_1"),
        idempotency_key("StripeGateway", "100000", GatewayOperation.REFUND, 0, payment_intent_id="pi_2"),
        idempotency_key("StripeGateway", "100000", GatewayOperation.REFUND, 0),
        idempotency_key("StripeGateway", "100001", GatewayOperation.REFUND, 0, payment_intent_id="pi_1"),
        idempotency_key("OtherGateway", "100000", GatewayOperation.REFUND, 0, payment_intent_id="pi_1"),
        idempotency_key("StripeGateway", "100000", GatewayOperation.CAPTURE, 0, payment_intent_id="pi_1"),
    }
    assert len(keys) == 7


def test_odd_ids_are_encoded_without_collisions() -> None:
    slash = idempotency_key("Stripe/Gateway", "1", GatewayOperation.RELEASE, 0)
    split = idempotency_key("Stripe", "Gateway/1", GatewayOperation.RELEASE, 0)
    assert slash != split
    for key in (slash, split, idempotency_key("Ünïcode gateway", "a b'c", GatewayOperation.RELEASE, 2)):
        assert re.fullmatch(r"[A-Za-z0-9._~%/-]+", key)


def test_operations_match_mantle() -> None:
    assert GatewayOperation.AUTHORIZE_AND_CAPTURE.value == "authorizeAndCapture"
    assert GatewayOperation.AUTHORIZE_AND_CAPTURE.payment_operation_enum_id == "PgoAuthAndCapture"
    assert GatewayOperation.DETAILS.payment_operation_enum_id == "PgoTxDetails"
    assert {operation.payment_operation_enum_id for operation in GatewayOperation} == {
        "PgoAuthorize", "PgoAuthAndCapture", "PgoCapture", "PgoRelease", "PgoRefund", "PgoTxDetails",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("config_id", "payment_id", "operation", "attempt"),
    [
        ("", "1", GatewayOperation.AUTHORIZE, 0),
        ("StripeGateway", "", GatewayOperation.AUTHORIZE, 0),
        ("StripeGateway", "1", GatewayOperation.AUTHORIZE, -1),
        ("StripeGateway", "1", GatewayOperation.AUTHORIZE, True),
        ("StripeGateway", "1", GatewayOperation.DETAILS, 0),  # reads take no key
        ("G" * 200, "P" * 60, GatewayOperation.AUTHORIZE, 0),  # over Stripe's 255 characters
    ],
)
def test_bad_parts_are_refused(config_id: str, payment_id: str, operation: GatewayOperation, attempt: int) -> None:
    with pytest.raises(IdempotencyKeyError):
        idempotency_key(config_id, payment_id, operation, attempt)


def test_longest_moqui_ids_fit() -> None:
    # Moqui ids are at most 40 characters; even percent-encoded ones stay within Stripe's limit.
    key = idempotency_key(
        "G" * 40, "é" * 20, GatewayOperation.AUTHORIZE_AND_CAPTURE, 99, payment_intent_id="pi_" + "x" * 27
    )
    assert len(key) <= MAX_KEY_LENGTH
