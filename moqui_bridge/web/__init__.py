"""Moqui's HTTP faces: /rpc/json and /rest/s1, with Moqui's JSON format and authentication."""

from moqui_bridge.web.auth import Authenticator, Principal
from moqui_bridge.web.dispatch import ContextFactory
from moqui_bridge.web.json_rpc import add_json_rpc_route
from moqui_bridge.web.rest import RestApi, add_rest_routes

__all__ = ["Authenticator", "ContextFactory", "Principal", "RestApi", "add_json_rpc_route", "add_rest_routes"]
