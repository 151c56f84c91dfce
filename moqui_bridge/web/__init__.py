"""Moqui's HTTP faces: /rpc/json and /rest/s1, with Moqui's JSON format and authentication."""
