"""`ServiceRegistry`: services by Moqui name with pydantic in/out models, called the way Moqui calls a service.

A call converts and checks the raw in-parameters (`MoquiParameters.from_moqui`), runs the async handler, and dumps the
out-parameters with their Moqui names, nulls included (the REST dispatcher removes nulls, as Moqui's does).
The registry is generic in the per-call context type: it passes the context through and never looks inside.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from moqui_bridge.service.column_limits import ColumnLimits
from moqui_bridge.service.errors import AuthenticationRequired, ServiceNotFound
from moqui_bridge.service.parameters import MoquiParameters, ParameterSpec

ContextT = TypeVar("ContextT")
InT = TypeVar("InT", bound=MoquiParameters)
OutT = TypeVar("OutT", bound=MoquiParameters)

# package.Name.verb#Noun: a dotted path, a verb, and an optional noun after '#'.
_SERVICE_NAME = re.compile(r"(?:[A-Za-z_][\w]*\.)+[A-Za-z_]\w*(?:#[A-Za-z_][\w.]*)?")


@dataclass(frozen=True)
class ParameterInfo:
    """Public description of one parameter: Moqui name, Moqui type name and whether it is required."""

    name: str
    type: str
    required: bool
    description: str | None = None

    @classmethod
    def from_spec(cls, spec: ParameterSpec) -> ParameterInfo:
        """Describe a parameter from the model's internal spec."""
        return cls(spec.name, spec.moqui_type.name, spec.required, spec.description)


@dataclass(frozen=True)
class ServiceDefinition(Generic[ContextT]):
    """One registered service: its Moqui name, models, flags and handler."""

    name: str
    in_model: type[MoquiParameters]
    out_model: type[MoquiParameters]
    handler: Callable[[Any, ContextT], Awaitable[Any]]
    allow_remote: bool
    implements: str | None
    authenticate: bool
    description: str
    # The registry's, set when it is registered: in-parameters named after entity fields must fit their columns.
    column_limits: ColumnLimits | None = None

    @property
    def path(self) -> str:
        """The part before the verb, e.g. `stripe.StripePaymentServices`."""
        return self.name.split("#", 1)[0].rsplit(".", 1)[0]

    @property
    def verb(self) -> str:
        """The verb, e.g. `authorize`."""
        return self.name.split("#", 1)[0].rsplit(".", 1)[1]

    @property
    def noun(self) -> str | None:
        """The noun after `#`, e.g. `Payment`, or None."""
        return self.name.split("#", 1)[1] if "#" in self.name else None

    @property
    def in_parameters(self) -> tuple[ParameterInfo, ...]:
        """In-parameters in declaration order."""
        return tuple(ParameterInfo.from_spec(spec) for spec in self.in_model.parameter_specs())

    @property
    def out_parameters(self) -> tuple[ParameterInfo, ...]:
        """Out-parameters in declaration order."""
        return tuple(ParameterInfo.from_spec(spec) for spec in self.out_model.parameter_specs())

    def check_authenticated(self, principal: object | None) -> None:
        """Raise `AuthenticationRequired` when the service needs a caller and there is none."""
        if self.authenticate and principal is None:
            raise AuthenticationRequired(self.name)

    async def run(self, raw_parameters: Mapping[str, Any], context: ContextT) -> dict[str, Any]:
        """Convert and check the parameters, run the handler, return the out-parameters by Moqui name."""
        if not isinstance(raw_parameters, Mapping):
            raise TypeError(f"Parameters of service {self.name} must be a mapping, got {type(raw_parameters).__name__}")
        parameters = self.in_model.from_moqui(raw_parameters, service_name=self.name, column_limits=self.column_limits)
        result = await self.handler(parameters, context)
        if not isinstance(result, self.out_model):
            raise TypeError(f"Service {self.name} returned {type(result).__name__}, not {self.out_model.__name__}")
        return result.to_moqui()


class ServiceRegistry(Generic[ContextT]):
    """Services by Moqui name. Register with the `service` decorator; call with `call`."""

    def __init__(self, *, column_limits: ColumnLimits | None = None) -> None:
        """`column_limits` (from the entity definitions) make every service refuse a parameter value that the
        column named like it cannot hold exactly, instead of the database failing or rounding it."""
        self._definitions: dict[str, ServiceDefinition[ContextT]] = {}
        self._column_limits = column_limits

    def service(
        self,
        name: str,
        in_model: type[InT],
        out_model: type[OutT],
        *,
        allow_remote: bool,
        implements: str | None = None,
        authenticate: bool = True,
        description: str = "",
    ) -> Callable[[Callable[[InT, ContextT], Awaitable[OutT]]], Callable[[InT, ContextT], Awaitable[OutT]]]:
        """Register the decorated async handler as the service `name` (`package.Name.verb#Noun`).

        `allow_remote` is Moqui's `allow-remote` (only such services answer on /rpc/json); `authenticate` is Moqui's
        `authenticate` (default true: the dispatchers refuse callers without credentials).
        """

        def register(
            handler: Callable[[InT, ContextT], Awaitable[OutT]],
        ) -> Callable[[InT, ContextT], Awaitable[OutT]]:
            self.add(
                ServiceDefinition(
                    name=name,
                    in_model=in_model,
                    out_model=out_model,
                    handler=handler,
                    allow_remote=allow_remote,
                    implements=implements,
                    authenticate=authenticate,
                    description=description,
                )
            )
            return handler

        return register

    @property
    def column_limits(self) -> ColumnLimits | None:
        """The column limits in-parameters are checked against (None: not checked)."""
        return self._column_limits

    def add(self, definition: ServiceDefinition[ContextT]) -> None:
        """Register a ready-made definition; names must be Moqui service names and unique."""
        if not _SERVICE_NAME.fullmatch(definition.name):
            raise ValueError(f"{definition.name!r} is not a Moqui service name (package.Name.verb#Noun)")
        if definition.name in self._definitions:
            raise ValueError(f"Service {definition.name} is already registered")
        if definition.column_limits is None and self._column_limits is not None:
            definition = dataclasses.replace(definition, column_limits=self._column_limits)
        self._definitions[definition.name] = definition

    def get(self, name: str) -> ServiceDefinition[ContextT] | None:
        """The definition registered under `name`, or None."""
        return self._definitions.get(name)

    def require(self, name: str) -> ServiceDefinition[ContextT]:
        """The definition registered under `name`; raise `ServiceNotFound` when there is none."""
        definition = self._definitions.get(name)
        if definition is None:
            raise ServiceNotFound(name)
        return definition

    def __contains__(self, name: object) -> bool:
        return name in self._definitions

    def __iter__(self) -> Iterator[ServiceDefinition[ContextT]]:
        return iter(self.definitions())

    def __len__(self) -> int:
        return len(self._definitions)

    def definitions(self) -> list[ServiceDefinition[ContextT]]:
        """Every definition, sorted by name."""
        return [self._definitions[name] for name in sorted(self._definitions)]

    async def call(self, name: str, raw_parameters: Mapping[str, Any], context: ContextT) -> dict[str, Any]:
        """Call a service by name as Moqui's `ec.service.sync()` does (no remote or authentication checks here).

        Raises `ServiceNotFound`, `ParameterError` for bad parameters, or whatever the handler raises
        (`ServiceError` for message-facade errors).
        """
        return await self.require(name).run(raw_parameters, context)


__all__ = ["MoquiParameters", "ParameterInfo", "ServiceDefinition", "ServiceRegistry"]
