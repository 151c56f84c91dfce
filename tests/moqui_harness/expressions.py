"""The Groovy expressions the component's XML actions may use, evaluated as Groovy evaluates them.

Moqui pastes ``from``, ``condition`` and ``in-map`` attributes into the Groovy class it generates for an actions
block (framework/template/XmlActions.groovy.ftl, macros ``set``, ``if``, ``service-call``), and ``message`` and
``value`` attributes into GStrings (``\"\"\"${...}\"\"\"``). This module accepts a deliberately small subset of that
Groovy, small enough to evaluate faithfully; anything else is refused with :class:`UnsupportedExpression`.

The subset (anything not listed is refused):

- literals: ``'single-quoted strings'`` (no escapes), non-negative integers, ``null``, ``true``, ``false``;
- names (a context variable; an undefined one is refused rather than read as null, stricter than Moqui's binding;
  ``ec`` and ``context`` are refused: Moqui's own objects are for the script only);
- property access ``a.b`` and null-safe ``a?.b`` (a Map's ``get``; on an entity value an unknown field is an error,
  as EntityValueBase.get throws; ``a.b`` on null is a NullPointerException);
- index ``list[0]`` with an integer literal (Groovy's ``getAt``: null past the end,
  DefaultGroovyMethods.getAt(List, int));
- list ``[a, 'b']`` and map ``[name:expr, ...]`` literals (``[:]`` is the empty map; keys are bare names);
- ``!x`` (Groovy truth), ``a == b`` / ``a != b`` (null-safe; numbers compare by value as Groovy's compareTo does),
  ``a && b``, ``a || b`` (both give booleans), ``a ?: b`` (Elvis: ``a`` when Groovy-true).

Groovy truth (``asBoolean``): null, false, empty strings, empty collections and maps, and zero are false.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["EntityValue", "Expression", "GroovyError", "UnsupportedExpression", "expand", "groovy_string", "truth"]


class UnsupportedExpression(ValueError):
    """The expression uses Groovy outside the declared subset."""


class GroovyError(RuntimeError):
    """What Groovy would throw at run time (a NullPointerException, an unknown entity field)."""


class EntityValue(dict[str, Any]):
    """A record as Moqui's EntityValue: a Map whose ``get`` of a name that is not a field throws."""

    def __init__(self, entity_name: str, field_names: frozenset[str], values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.entity_name = entity_name
        self.field_names = field_names

    def field(self, name: str) -> Any:
        """The field's value; an unknown name raises as EntityValueBase.get does."""
        if name not in self.field_names:
            raise GroovyError(f"The field name {name} is not valid for entity {self.entity_name}")
        return self.get(name)


_TOKEN = re.compile(
    r"\s*(?:(?P<string>'[^'\\]*')|(?P<number>\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\?\.|\?:|==|!=|&&|\|\||[\[\](),:.!]))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise UnsupportedExpression(f"not in the expression subset at {text[position:]!r} of {text!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    tokens.append(("end", ""))
    return tokens


# Moqui's ExecutionContext and the context map itself: only the script runs with them (under real Groovy).
_RESERVED_NAMES = frozenset({"ec", "context", "result"})


@dataclass(frozen=True)
class Node:
    """One node of a parsed expression: ``kind`` and its parts."""

    kind: str
    value: Any = None
    parts: tuple[Node, ...] = ()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.position]

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.tokens[self.position]
        if value is not None and token[1] != value:
            raise UnsupportedExpression(f"expected {value!r}, found {token[1]!r} in {self.text!r}")
        self.position += 1
        return token

    def parse(self) -> Node:
        node = self.elvis()
        if self.peek()[0] != "end":
            raise UnsupportedExpression(f"not in the expression subset at {self.peek()[1]!r} of {self.text!r}")
        return node

    def elvis(self) -> Node:
        node = self.disjunction()
        if self.peek()[1] == "?:":
            self.take()
            return Node("elvis", parts=(node, self.elvis()))
        return node

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.peek()[1] == "||":
            self.take()
            node = Node("or", parts=(node, self.conjunction()))
        return node

    def conjunction(self) -> Node:
        node = self.equality()
        while self.peek()[1] == "&&":
            self.take()
            node = Node("and", parts=(node, self.equality()))
        return node

    def equality(self) -> Node:
        node = self.unary()
        if self.peek()[1] in ("==", "!="):
            operator = self.take()[1]
            node = Node(operator, parts=(node, self.unary()))
            if self.peek()[1] in ("==", "!="):
                raise UnsupportedExpression(f"chained comparison in {self.text!r}")
        return node

    def unary(self) -> Node:
        if self.peek()[1] == "!":
            self.take()
            return Node("not", parts=(self.unary(),))
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while True:
            token = self.peek()[1]
            if token in (".", "?."):
                self.take()
                kind, name = self.take()
                if kind != "name":
                    raise UnsupportedExpression(f"expected a property name after {token!r} in {self.text!r}")
                if self.peek()[1] == "(":
                    raise UnsupportedExpression(f"method call {name}() in {self.text!r}")
                node = Node("safe-property" if token == "?." else "property", name, (node,))
            elif token == "[":
                self.take()
                kind, number = self.take()
                if kind != "number":
                    raise UnsupportedExpression(f"only integer literal indexes are in the subset: {self.text!r}")
                self.take("]")
                node = Node("index", int(number), (node,))
            elif token == "(":
                raise UnsupportedExpression(f"method or closure call in {self.text!r}")
            else:
                return node

    def primary(self) -> Node:
        kind, value = self.take()
        if kind == "string":
            return Node("literal", value[1:-1])
        if kind == "number":
            return Node("literal", int(value))
        if kind == "name":
            if value in ("null", "true", "false"):
                return Node("literal", {"null": None, "true": True, "false": False}[value])
            if value in _RESERVED_NAMES:
                raise UnsupportedExpression(f"{value} (Moqui's own objects) is not in the subset: {self.text!r}")
            return Node("name", value)
        if value == "(":
            node = self.elvis()
            self.take(")")
            return node
        if value == "[":
            return self.collection()
        raise UnsupportedExpression(f"not in the expression subset at {value!r} of {self.text!r}")

    def collection(self) -> Node:
        if self.peek()[1] == ":":
            self.take()
            self.take("]")
            return Node("map", ())
        if self.peek()[1] == "]":
            self.take()
            return Node("list", ())
        is_map = self.peek()[0] == "name" and self.tokens[self.position + 1][1] == ":"
        entries: list[Node] = []
        while True:
            if is_map:
                kind, key = self.take()
                if kind != "name":
                    raise UnsupportedExpression(f"map keys must be bare names in {self.text!r}")
                self.take(":")
                entries.append(Node("entry", key, (self.elvis(),)))
            else:
                entries.append(self.elvis())
            if self.peek()[1] == ",":
                self.take()
                continue
            self.take("]")
            return Node("map" if is_map else "list", None, tuple(entries))


def truth(value: Any) -> bool:
    """Groovy truth (asBoolean)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, Decimal)):
        return value != 0
    if isinstance(value, (str, list, dict, tuple)):
        return len(value) > 0
    return True


def _equal(left: Any, right: Any) -> bool:
    # Groovy's == is null-safe and compares numbers by value (DefaultTypeTransformation.compareEqual).
    if left is None or right is None:
        return left is None and right is None
    numeric = (int, Decimal)
    if isinstance(left, numeric) and isinstance(right, numeric) and not isinstance(left, bool):
        return Decimal(left) == Decimal(right)
    return bool(left == right)


class Expression:
    """A parsed expression of the subset; :meth:`evaluate` runs it over a context."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tree = _Parser(text).parse()

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """The expression's value in ``context`` (the actions' variables)."""
        return self._evaluate(self.tree, context)

    def _evaluate(self, node: Node, context: Mapping[str, Any]) -> Any:
        kind = node.kind
        if kind == "literal":
            return node.value
        if kind == "name":
            if node.value not in context:
                raise GroovyError(f"{node.value} is not defined (in {self.text!r}); set it first")
            return context[node.value]
        if kind in ("property", "safe-property"):
            target = self._evaluate(node.parts[0], context)
            if target is None:
                if kind == "safe-property":
                    return None
                raise GroovyError(f"NullPointerException: cannot get property {node.value!r} on null in {self.text!r}")
            if isinstance(target, EntityValue):
                return target.field(node.value)
            if isinstance(target, Mapping):
                return target.get(node.value)
            raise GroovyError(f"property {node.value!r} of a {type(target).__name__} in {self.text!r}")
        if kind == "index":
            target = self._evaluate(node.parts[0], context)
            if not isinstance(target, list):
                raise GroovyError(f"index of a {type(target).__name__} in {self.text!r}")
            return target[node.value] if node.value < len(target) else None
        if kind == "list":
            return [self._evaluate(part, context) for part in node.parts]
        if kind == "map":
            return {part.value: self._evaluate(part.parts[0], context) for part in node.parts}
        if kind == "not":
            return not truth(self._evaluate(node.parts[0], context))
        if kind in ("==", "!="):
            equal = _equal(self._evaluate(node.parts[0], context), self._evaluate(node.parts[1], context))
            return equal if kind == "==" else not equal
        if kind == "and":
            return truth(self._evaluate(node.parts[0], context)) and truth(self._evaluate(node.parts[1], context))
        if kind == "or":
            return truth(self._evaluate(node.parts[0], context)) or truth(self._evaluate(node.parts[1], context))
        if kind == "elvis":
            left = self._evaluate(node.parts[0], context)
            return left if truth(left) else self._evaluate(node.parts[1], context)
        raise UnsupportedExpression(f"{kind} in {self.text!r}")  # pragma: no cover - the parser makes no other kinds


_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def groovy_string(value: Any) -> str:
    """How a GString shows a value: ``null`` for null, plain decimals as BigDecimal.toString of a plain value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def expand(template: str, context: Mapping[str, Any]) -> str:
    """A ``\"\"\"...\"\"\"`` GString of the subset: ``${expression}`` placeholders, no ``$name`` shorthand."""
    if re.search(r"\$(?!\{)", template):
        raise UnsupportedExpression(f"only ${{...}} placeholders are in the subset: {template!r}")
    return _PLACEHOLDER.sub(lambda match: groovy_string(Expression(match.group(1)).evaluate(context)), template)
