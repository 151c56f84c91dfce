"""Idempotency keys: `moqui-stripe/v1/<installationId>/<operationId>`, nothing else in them."""

from __future__ import annotations

import pytest

from service.stripe_gateway.idempotency import MAX_KEY_LENGTH, IdempotencyKeyError, idempotency_key


def test_key_is_the_installation_and_the_journal_row() -> None:
    key = idempotency_key("0f3c9a", "100042")
    assert key == "moqui-stripe/v1/0f3c9a/100042"
    # A replay of the same row reaches Stripe with the same key.
    assert idempotency_key("0f3c9a", "100042") == key


def test_installations_and_rows_make_distinct_keys() -> None:
    keys = {
        idempotency_key("0f3c9a", "100042"),
        idempotency_key("0f3c9a", "100043"),
        # a staging copy re-keyed: the same journal row ids, another installation
        idempotency_key("77aa01", "100042"),
    }
    assert len(keys) == 3


@pytest.mark.parametrize(
    ("installation_id", "operation_id"),
    [("", "1"), ("abc", ""), ("a/b", "1"), ("abc", "1/2"), ("abc", "100 000"), ("abc", "x" * MAX_KEY_LENGTH)],
)
def test_parts_that_cannot_make_one_key_are_refused(installation_id: str, operation_id: str) -> None:
    with pytest.raises(IdempotencyKeyError):
        idempotency_key(installation_id, operation_id)
