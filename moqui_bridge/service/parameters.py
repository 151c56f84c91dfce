"""`MoquiParameters`: a pydantic model of a service's in- or out-parameters, cleaned and checked as Moqui does.

`from_moqui` follows Moqui's `ServiceDefinition.nestedParameterClean`, parameter by parameter in declaration order:
undeclared keys are dropped; a required parameter that is missing, null or empty is the validation error
"Field cannot be empty"; an empty value for a non-String type becomes null; other values are converted to the
parameter's Moqui type; a String containing `<` is refused unless the parameter allows HTML; given column limits, a
value the column of the same name cannot hold exactly is refused (`column_limits.py`). All errors are collected
and raised together as one `ParameterError`, so the caller sees every problem at once, as in Moqui.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError
from pydantic.fields import FieldInfo

from moqui_bridge.service.column_limits import ColumnLimits
from moqui_bridge.service.errors import ParameterError, ValidationMessage
from moqui_bridge.service.parameter_types import (
    MAP,
    PLAIN_TYPES,
    STRING,
    AllowHtml,
    ConversionError,
    MoquiType,
    Required,
)

FIELD_CANNOT_BE_EMPTY = "Field cannot be empty"
HTML_NOT_ALLOWED = "HTML not allowed including less-than (<), greater-than (>), etc symbols"


@dataclass(frozen=True)
class ParameterSpec:
    """What the facade knows of one parameter: its Moqui name and type, and how it is checked."""

    name: str
    attribute: str
    moqui_type: MoquiType
    required: bool
    nullable: bool
    allow_html: bool
    description: str | None


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        members = [member for member in typing.get_args(annotation) if member is not type(None)]
        nullable = len(members) != len(typing.get_args(annotation))
        if len(members) == 1:
            return members[0], nullable
        return annotation, nullable
    return annotation, False


def _moqui_type_of(annotation: Any, metadata: list[Any]) -> MoquiType | None:
    for item in metadata:
        if isinstance(item, MoquiType):
            return item
    if typing.get_origin(annotation) is typing.Annotated:
        for item in annotation.__metadata__:
            if isinstance(item, MoquiType):
                return item
        annotation = typing.get_args(annotation)[0]
    base = typing.get_origin(annotation) or annotation
    if isinstance(base, type):
        if issubclass(base, BaseModel):
            return MAP
        for python_type, moqui_type in PLAIN_TYPES.items():
            # Exact match: bool is a subclass of int but must not become a Long.
            if base is python_type:
                return moqui_type
    return None


def _spec_for(attribute: str, field: FieldInfo) -> ParameterSpec:
    annotation, nullable = _unwrap_optional(field.annotation)
    moqui_type = _moqui_type_of(annotation, list(field.metadata))
    if moqui_type is None:
        raise TypeError(f"Parameter {attribute!r} has no Moqui type for annotation {field.annotation!r}")
    return ParameterSpec(
        name=field.alias or attribute,
        attribute=attribute,
        moqui_type=moqui_type,
        required=Required in field.metadata or field.is_required(),
        nullable=nullable,
        allow_html=AllowHtml in field.metadata,
        description=field.description,
    )


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | dict | list) and len(value) == 0)


class MoquiParameters(BaseModel):
    """Base of every service's in- and out-parameter model. Field names (or aliases) are the Moqui names."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    _parameter_specs: ClassVar[tuple[ParameterSpec, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Work out each parameter's Moqui type once, when the model is defined, so a bad annotation fails early."""
        super().__pydantic_init_subclass__(**kwargs)
        cls._parameter_specs = tuple(_spec_for(attribute, field) for attribute, field in cls.model_fields.items())

    @classmethod
    def parameter_specs(cls) -> tuple[ParameterSpec, ...]:
        """The parameters in declaration order."""
        return cls._parameter_specs

    @classmethod
    def from_moqui(
        cls, raw: Mapping[str, Any], *, service_name: str | None = None, column_limits: ColumnLimits | None = None
    ) -> Self:
        """Clean, convert and check raw parameters as Moqui does; raise `ParameterError` listing every problem.

        With `column_limits`, a value that the column named like its parameter cannot hold exactly is refused too.
        """
        problems: list[ValidationMessage] = []
        cleaned: dict[str, Any] = {}
        for spec in cls._parameter_specs:
            present = spec.name in raw
            value = raw.get(spec.name)
            if _is_empty(value):
                if spec.required:
                    problems.append(ValidationMessage(spec.name, FIELD_CANNOT_BE_EMPTY, service_name))
                elif present:
                    kept = _empty_value_kept(spec, value)
                    if kept is not _DROP:
                        cleaned[spec.name] = kept
                continue
            try:
                converted = spec.moqui_type.convert(value)
            except ConversionError as error:
                problems.append(ValidationMessage(spec.name, error.message, service_name))
                continue
            if spec.moqui_type is STRING and not spec.allow_html and "<" in converted:
                problems.append(ValidationMessage(spec.name, HTML_NOT_ALLOWED, service_name))
                continue
            too_big = column_limits.problem(spec.name, converted) if column_limits is not None else None
            if too_big is not None:
                problems.append(ValidationMessage(spec.name, too_big, service_name))
                continue
            cleaned[spec.name] = converted
        if problems:
            raise ParameterError(problems)
        try:
            return cls.model_validate(cleaned)
        except PydanticValidationError as error:
            # Constraints beyond the Moqui type (Literal, max_length, ...) still answer in Moqui's shape.
            raise ParameterError(
                ValidationMessage(
                    str(item["loc"][0]) if item["loc"] else "",
                    f"Value entered ({item.get('input')}) is not valid: {item['msg']}",
                    service_name,
                )
                for item in error.errors()
            ) from None

    def to_moqui(self) -> dict[str, Any]:
        """The parameters as a dict keyed by Moqui name with Python values, nulls included (Jackson writes them)."""
        return self.model_dump(mode="python", by_alias=True)


_DROP = object()


def _empty_value_kept(spec: ParameterSpec, value: Any) -> Any:
    # Moqui keeps an empty value only when it already has the parameter's type ("" for a String, {} for a Map);
    # otherwise it becomes null. A parameter that cannot hold None falls back to its default instead.
    if isinstance(value, str) and spec.moqui_type.convert is STRING.convert:
        return value
    if isinstance(value, dict | list) and value is not None:
        try:
            return spec.moqui_type.convert(value)
        except ConversionError:
            pass
    return None if spec.nullable else _DROP
