"""An OpenAPI 3.1 description of the service REST API, made from the same declarations the dispatcher serves.

Moqui describes its own REST API from its resource tree and service definitions (`RestApi.getSwaggerMap`, one
Swagger document per root); this does the same for every root at once, in OpenAPI 3.1, served at
`GET /rest/s1/openapi.json`: each path of each `RestApi` tree (`{id}` segments as path parameters) and each method
routed there, with the in-parameters of its service (query parameters for GET, a JSON object body otherwise) and
its out-parameters as the 200 answer. A route or parameter added to a `RestApi` or a service model shows up here
with no other change. Errors are Moqui's `{"errorCode": N, "errors": "..."}`.

Parameter types follow `parameter_types`: a BigDecimal is a JSON number or its text (never a float on our side), a
Timestamp epoch milliseconds or text, an Indicator "Y"/"N". Text named after an entity field carries its column's
`maxLength` (`column_limits`), as the dispatcher refuses longer text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from moqui_bridge.service.column_limits import ColumnLimits
from moqui_bridge.service.registry import ParameterInfo, ServiceDefinition, ServiceRegistry

if TYPE_CHECKING:
    # Types only: rest.py serves this document, so importing it at run time would be circular.
    from moqui_bridge.web.rest import RestApi, _PathNode

__all__ = ["OPENAPI_PATH", "openapi_document"]

OPENAPI_PATH: Final = "/openapi.json"
_BODY_METHODS: Final = frozenset({"post", "put", "patch", "delete"})
_ERROR_STATUSES: Final = {
    "400": "Bad input or a service error (Moqui's message facade errors)",
    "401": "No valid credentials for a service that needs them",
    "403": "Not allowed",
    "404": "Unknown resource path",
    "405": "Method not supported at this path",
}
_JSON_TYPES: Final[Mapping[str, dict[str, Any]]] = {
    "String": {"type": "string"},
    "BigDecimal": {
        "anyOf": [
            {"type": "number"},
            {"type": "string", "pattern": r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"},
        ],
        "description": "A decimal: a JSON number (never rounded through a float) or its text",
    },
    "Integer": {"type": "integer", "format": "int32"},
    "Long": {"type": "integer", "format": "int64"},
    "Boolean": {"type": "boolean"},
    "Timestamp": {
        "anyOf": [{"type": "integer", "format": "int64"}, {"type": "string"}],
        "description": "Epoch milliseconds, or text such as 2026-01-31 12:00:00 (UTC without a zone)",
    },
    "Map": {"type": "object"},
    "List": {"type": "array"},
}


def _schema_of(info: ParameterInfo, limits: ColumnLimits | None) -> dict[str, Any]:
    # Indicators have Moqui type String; their annotation is what makes them Y/N.
    schema = dict(_JSON_TYPES.get(info.type, {}))
    limit = limits.get(info.name) if limits is not None else None
    if info.type == "String" and limit is not None and limit.text and limit.max_length is not None:
        schema["maxLength"] = limit.max_length
    if info.description:
        schema["description"] = info.description
    return schema


def _object_schema(parameters: Iterable[ParameterInfo], limits: ColumnLimits | None) -> dict[str, Any]:
    listed = list(parameters)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {info.name: _schema_of(info, limits) for info in listed},
    }
    required = [info.name for info in listed if info.required]
    if required:
        schema["required"] = required
    return schema


def _operation_id(method: str, path: str) -> str:
    """A name for client generators, unique per method and path: `post /mantle/payments/{paymentId}/gateways/refund`
    -> `postMantlePaymentsByPaymentIdGatewaysRefund` (one service may be routed at several paths)."""
    words = []
    for segment in (part for part in path.split("/") if part):
        if segment.startswith("{"):
            name = segment[1:-1]
            words.append("By" + name[:1].upper() + name[1:])
        else:
            words.append(segment[:1].upper() + segment[1:])
    return method + "".join(words)


def _operation(
    method: str,
    path: str,
    definition: ServiceDefinition[Any],
    path_names: list[str],
    limits: ColumnLimits | None,
) -> dict[str, Any]:
    in_parameters = [info for info in definition.in_parameters if info.name not in path_names]
    declared = {info.name: info for info in definition.in_parameters}
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": _schema_of(declared.get(name, ParameterInfo(name, "String", True)), limits),
        }
        for name in path_names
    ]
    operation: dict[str, Any] = {
        "operationId": _operation_id(method, path),
        "summary": definition.name,
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "The service's out-parameters (nulls left out)",
                "content": {"application/json": {"schema": _object_schema(definition.out_parameters, None)}},
            },
            **{
                status: {
                    "description": text,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MoquiError"}}},
                }
                for status, text in _ERROR_STATUSES.items()
            },
        },
    }
    if definition.description:
        operation["description"] = definition.description
    if method in _BODY_METHODS:
        body_schema = _object_schema(in_parameters, limits)
        operation["requestBody"] = {
            "required": bool(body_schema.get("required")),
            "content": {"application/json": {"schema": body_schema}},
        }
    else:
        parameters.extend(
            {
                "name": info.name,
                "in": "query",
                "required": info.required,
                "schema": _schema_of(info, limits),
            }
            for info in in_parameters
        )
    if definition.authenticate:
        operation["security"] = [{"basic": []}, {"apiKeyHeader": []}, {"loginKeyHeader": []}, {"apiKeyQuery": []}]
    else:
        operation["security"] = [{}]
    return operation


def _paths_of(
    root: str, node: _PathNode, segments: list[str], path_names: list[str]
) -> Iterator[tuple[str, _PathNode, list[str]]]:
    yield "/" + "/".join([root, *segments]), node, path_names
    for name, child in node.resources.items():
        yield from _paths_of(root, child, [*segments, name], path_names)
    if node.id_node is not None and node.id_name is not None:
        yield from _paths_of(root, node.id_node, [*segments, f"{{{node.id_name}}}"], [*path_names, node.id_name])


def openapi_document(
    apis: Iterable[RestApi], registry: ServiceRegistry[Any], *, prefix: str, title: str, version: str
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the given `RestApi` roots, served under `prefix` (e.g. `/rest/s1`)."""
    limits = registry.column_limits
    paths: dict[str, dict[str, Any]] = {}
    for api in apis:
        for path, node, path_names in _paths_of(api.root, api.tree, [], []):
            operations = {
                method: _operation(method, path, registry.require(service_name), path_names, limits)
                for method, service_name in sorted(node.methods.items())
            }
            if operations:
                paths[path] = operations
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Moqui-style service REST API: parameters by Moqui name, errors as "
            '{"errorCode": N, "errors": "..."}',
        },
        "servers": [{"url": prefix}],
        "paths": paths,
        "components": {
            "schemas": {
                "MoquiError": {
                    "type": "object",
                    "properties": {"errorCode": {"type": "integer"}, "errors": {"type": "string"}},
                    "required": ["errorCode", "errors"],
                }
            },
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "api_key"},
                "loginKeyHeader": {"type": "apiKey", "in": "header", "name": "login_key"},
                "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key"},
            },
        },
    }
