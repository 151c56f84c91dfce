"""Moqui's rule for turning entity and field names into table and column names."""


def camel_case_to_underscored(camel_case: str) -> str:
    """Convert a Moqui entity or field name to its SQL name, as Moqui's ``camelCaseToUnderscored`` does.

    The first character is upper-cased, then every later upper-case character gets an ``_`` in front of it,
    and everything is upper-cased: ``PaymentGatewayResponse`` -> ``PAYMENT_GATEWAY_RESPONSE``,
    ``paymentId`` -> ``PAYMENT_ID``. Digits and underscores are kept as they are (no separator before them),
    exactly like Moqui, so ``address2`` -> ``ADDRESS2``.
    """
    if not camel_case:
        return ""
    parts = [camel_case[0].upper()]
    for character in camel_case[1:]:
        if character.isupper():
            parts.append("_")
        parts.append(character.upper())
    return "".join(parts)
