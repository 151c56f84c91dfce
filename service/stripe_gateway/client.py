"""One `stripe.StripeClient` per Mantle PaymentGatewayConfig, never a global API key.

`StripeAccountSettings` is the plain input (the configuration module builds one per gateway config);
`StripeGateway` owns the client and its aiohttp session; `StripeGateways` is the registry the services use.
Secret keys never appear in a repr, a log line or an error message from here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final
from urllib.parse import urlsplit

import aiohttp
import stripe

from service.stripe_gateway.rate_limit import AdmittedHTTPClient, StripeAdmission

__all__ = [
    "STRIPE_API_VERSION",
    "StripeAccountSettings",
    "StripeGateway",
    "StripeGateways",
    "UnknownGatewayConfig",
    "mask_secret",
]


# The API version the installed SDK is generated for; pyproject bounds the SDK's major version.
STRIPE_API_VERSION: Final = stripe.api_version

_KEY_KINDS = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")


def mask_secret(secret: str) -> str:
    """A secret key as it may be shown: its kind and last four characters, like Stripe's dashboard ("sk_test_…c3d4")."""
    kind = next((prefix for prefix in _KEY_KINDS if secret.startswith(prefix)), "")
    # Only a long secret keeps its last four characters visible; a short one would give too much away.
    tail = secret[-4:] if len(secret) >= len(kind) + 16 else ""
    return f"{kind}…{tail}"


@dataclass(frozen=True)
class StripeAccountSettings:
    """The Stripe account behind one PaymentGatewayConfig.

    `api_base` is None for Stripe itself, or the base URL of a Stripe-compatible API (the emulator in tests).
    `timeout_seconds` bounds each HTTP request; `max_network_retries` is how often the SDK repeats a request that
    failed on the network, with 409 or 5xx (always with the same Idempotency-Key).
    """

    secret_key: str = field(repr=False)
    publishable_key: str = ""
    api_base: str | None = None
    max_network_retries: int = 2
    timeout_seconds: float = 6.0

    def __post_init__(self) -> None:
        if not self.secret_key:
            raise ValueError("secret_key is empty")
        if self.api_base is not None:
            parts = urlsplit(self.api_base)
            if parts.scheme not in {"http", "https"} or not parts.netloc:
                raise ValueError(f"api_base must be an http(s) URL, not {self.api_base!r}")
        if isinstance(self.max_network_retries, bool) or not 0 <= self.max_network_retries <= 10:
            raise ValueError("max_network_retries must be between 0 and 10")
        if not self.timeout_seconds > 0:
            raise ValueError("timeout_seconds must be positive")

    def __repr__(self) -> str:
        return (
            f"StripeAccountSettings(secret_key={mask_secret(self.secret_key)!r}, "
            f"publishable_key={self.publishable_key!r}, api_base={self.api_base!r}, "
            f"max_network_retries={self.max_network_retries}, timeout_seconds={self.timeout_seconds})"
        )


class StripeGateway:
    """The Stripe client of one PaymentGatewayConfig; close it (`await gateway.close()`) on shutdown."""

    def __init__(
        self, payment_gateway_config_id: str, settings: StripeAccountSettings, admission: StripeAdmission | None = None
    ) -> None:
        self.payment_gateway_config_id = payment_gateway_config_id
        self.settings = settings
        # The SDK's aiohttp client creates its session lazily inside the running loop; StripeClient cannot close it,
        # so we keep it to close it ourselves. Every request of this config passes its admission (rate_limit.py).
        timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds)
        self._http_client = (
            stripe.AIOHTTPClient(timeout=timeout)
            if admission is None
            else AdmittedHTTPClient(admission, settings.timeout_seconds, timeout=timeout)
        )
        self.client = stripe.StripeClient(
            settings.secret_key,
            base_addresses={"api": settings.api_base} if settings.api_base else None,
            http_client=self._http_client,
            # StripeClient defaults to no retries at all.
            max_network_retries=settings.max_network_retries,
            # Pinned, never the account's default: every field we read and every rule we follow (basil's partial
            # capture and refund arithmetic) is the SDK's version's (stripe-python 16.x: 2026-10-28.endive).
            stripe_version=STRIPE_API_VERSION,
        )
        # The currencies this config's stripe.StripeGatewaySettings row allows and when they were read
        # (time.monotonic()): kept here by the gateway API's checks (payment_services/gateway_call.py).
        self.accepted_currencies: tuple[frozenset[str], float] | None = None
        self._closed = False

    async def close(self) -> None:
        """Close the HTTP session (idempotent)."""
        if not self._closed:
            self._closed = True
            await self._http_client.close_async()  # type: ignore[no-untyped-call]  # unannotated in the SDK

    def __repr__(self) -> str:
        return f"StripeGateway({self.payment_gateway_config_id!r}, {self.settings!r})"


class UnknownGatewayConfig(KeyError):
    """No Stripe account is configured for that paymentGatewayConfigId."""

    def __init__(self, payment_gateway_config_id: str) -> None:
        self.payment_gateway_config_id = payment_gateway_config_id
        super().__init__(payment_gateway_config_id)

    def __str__(self) -> str:
        return f"no Stripe account is configured for payment gateway config {self.payment_gateway_config_id!r}"


class StripeGateways:
    """Every configured Stripe gateway, by paymentGatewayConfigId; use as `async with` or call `close()`.

    `admissions`: the in-flight and rate limits of each config (rate_limit.py); a config without one is unlimited.
    """

    def __init__(
        self,
        settings: Mapping[str, StripeAccountSettings],
        admissions: Mapping[str, StripeAdmission] | None = None,
    ) -> None:
        limits = admissions or {}
        self._gateways = {
            config_id: StripeGateway(config_id, account, limits.get(config_id))
            for config_id, account in settings.items()
        }

    def get(self, payment_gateway_config_id: str) -> StripeGateway:
        """The gateway of that config; raises UnknownGatewayConfig when none is configured."""
        try:
            return self._gateways[payment_gateway_config_id]
        except KeyError:
            raise UnknownGatewayConfig(payment_gateway_config_id) from None

    def __contains__(self, payment_gateway_config_id: object) -> bool:
        return payment_gateway_config_id in self._gateways

    def __iter__(self) -> Iterator[str]:
        return iter(self._gateways)

    def __len__(self) -> int:
        return len(self._gateways)

    async def close(self) -> None:
        """Close every gateway's HTTP session."""
        for gateway in self._gateways.values():
            await gateway.close()

    async def __aenter__(self) -> StripeGateways:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"StripeGateways({list(self._gateways)!r})"
