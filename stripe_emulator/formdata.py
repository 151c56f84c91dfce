"""Stripe's wire format for requests: form-encoded bodies and query strings with bracketed keys.

`metadata[orderId]=42` becomes `{"metadata": {"orderId": "42"}}`; `expand[]=a`, `expand[0]=a` and
`items[0][price]=p` become lists, exactly as the official SDKs and stripe.js encode them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from stripe_emulator.errors import invalid_request

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


class _ListSlots(dict[str, Any]):
    """A node addressed by `[]` or `[n]`: becomes a list once parsing is done."""

    next_index = 0


def _split_key(key: str) -> list[str]:
    bracket = key.find("[")
    if bracket < 0:
        return [key]
    head, rest = key[:bracket], key[bracket:]
    segments = _SEGMENT.findall(rest)
    # A key such as `a[b` or `a[b]c` is malformed; Stripe rejects it rather than guessing.
    if not head or "".join(f"[{s}]" for s in segments) != rest:
        raise invalid_request(f"Invalid parameter name: {key}", param=key)
    return [head, *segments]


def _finish(node: Any) -> Any:
    if isinstance(node, _ListSlots):
        return [_finish(node[k]) for k in sorted(node, key=int)]
    if isinstance(node, dict):
        return {k: _finish(v) for k, v in node.items()}
    return node


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Build nested parameters from decoded `(key, value)` pairs."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        segments = _split_key(key)
        node: dict[str, Any] = root
        for depth, segment in enumerate(segments):
            last = depth == len(segments) - 1
            if isinstance(node, _ListSlots):
                if segment == "":
                    segment = str(node.next_index)
                elif not segment.isdigit():
                    raise invalid_request(f"Invalid array index in parameter {key}", param=key)
                node.next_index = max(node.next_index, int(segment) + 1)
            if last:
                node[segment] = value
                break
            following = segments[depth + 1]
            wants_list = following == "" or following.isdigit()
            child = node.get(segment)
            if child is None or not isinstance(child, dict):
                child = _ListSlots() if wants_list else {}
                node[segment] = child
            node = child
    finished: dict[str, Any] = _finish(root)
    return finished


def parse_form(text: str) -> dict[str, Any]:
    """Parse an `application/x-www-form-urlencoded` body or query string."""
    return parse_pairs(parse_qsl(text, keep_blank_values=True))


def canonical(params: dict[str, Any]) -> str:
    """A stable text form of parsed parameters, used to compare idempotent requests."""
    parts: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k in sorted(value):
                walk(f"{prefix}[{k}]" if prefix else k, value[k])
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(f"{prefix}[{i}]", item)
        else:
            parts.append(f"{prefix}={value}")

    walk("", params)
    return "&".join(parts)
