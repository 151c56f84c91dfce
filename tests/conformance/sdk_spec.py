"""The pinned API version as the installed SDK describes it: typed request params and resource classes."""

from __future__ import annotations

import inspect

import stripe
import stripe.params

# Request options travel with a call but are not parameters Stripe receives in the body or query.
REQUEST_OPTIONS = frozenset(stripe.RequestOptions.__annotations__)
_BASES = frozenset(("StripeObject", "APIResource", "object", "dict"))


def sdk_params(typed_dict_name: str) -> frozenset[str]:
    """The parameter names `stripe.params.<typed_dict_name>` lists (inherited ones included), request options out."""
    cls = getattr(stripe.params, typed_dict_name)
    names: set[str] = set()
    for klass in cls.__mro__:
        names |= set(inspect.get_annotations(klass))
    return frozenset(names - REQUEST_OPTIONS)


def sdk_fields(resource: type[stripe.StripeObject]) -> frozenset[str]:
    """The fields a resource class declares (its own and its resource mixins'), nested type names out."""
    names: set[str] = set()
    for klass in resource.__mro__:
        if klass.__name__ in _BASES or not klass.__module__.startswith("stripe."):
            continue
        names |= {name for name in inspect.get_annotations(klass) if name[0].islower()}
    return frozenset(names)
