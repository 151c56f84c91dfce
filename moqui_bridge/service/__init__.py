"""Moqui's service facade in Python: services by Moqui name with typed in/out parameters."""

from moqui_bridge.service.column_limits import ColumnLimits
from moqui_bridge.service.errors import (
    AuthenticationRequired,
    AuthorizationDenied,
    MoquiServiceException,
    ParameterError,
    ServiceError,
    ServiceNotFound,
    ServiceNotRemote,
    ValidationMessage,
)
from moqui_bridge.service.parameter_types import (
    AllowHtml,
    BigDecimal,
    Boolean,
    Indicator,
    Integer,
    List,
    Long,
    Map,
    Required,
    String,
    Timestamp,
)
from moqui_bridge.service.parameters import MoquiParameters
from moqui_bridge.service.registry import ParameterInfo, ServiceDefinition, ServiceRegistry

__all__ = [
    "AllowHtml",
    "AuthenticationRequired",
    "AuthorizationDenied",
    "BigDecimal",
    "Boolean",
    "ColumnLimits",
    "Indicator",
    "Integer",
    "List",
    "Long",
    "Map",
    "MoquiParameters",
    "MoquiServiceException",
    "ParameterError",
    "ParameterInfo",
    "Required",
    "ServiceDefinition",
    "ServiceError",
    "ServiceNotFound",
    "ServiceNotRemote",
    "ServiceRegistry",
    "String",
    "Timestamp",
    "ValidationMessage",
]
