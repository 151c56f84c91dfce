"""Configuration: a TOML file plus environment overrides, validated into frozen models.

Every key is documented in README.md ("Configuration"). Secrets live only here (and in the environment): they are
never written to Moqui's tables, never logged and never returned; the models mask them in their repr.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

ENV_PREFIX = "MOQUI_STRIPE_"
DEFAULT_DATA_DIR = Path(".moqui-stripe")


# Moqui's HTTP client gives up after about 30 s of silence; every answer must be sent well before.
MAX_REQUEST_DEADLINE_SECONDS = 25.0
# The Stripe SDK's back-off before retry n: 0.5 s * 2**(n-1), at most 5 s (stripe._http_client.HTTPClient:
# INITIAL_DELAY, MAX_DELAY, _sleep_time_seconds; jitter only shortens it).
_STRIPE_INITIAL_RETRY_DELAY_SECONDS = 0.5
_STRIPE_MAX_RETRY_DELAY_SECONDS = 5.0


def stripe_worst_case_seconds(timeout_seconds: float, max_network_retries: int) -> float:
    """How long one Stripe call may take with the SDK's retries: every try timing out, the longest back-off between."""
    back_off = sum(
        min(_STRIPE_INITIAL_RETRY_DELAY_SECONDS * float(2 ** (retry - 1)), _STRIPE_MAX_RETRY_DELAY_SECONDS)
        for retry in range(1, max_network_retries + 1)
    )
    return timeout_seconds * (max_network_retries + 1) + back_off


class ConfigError(Exception):
    """A configuration problem, worded as one line an operator can act on."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerSettings(_Frozen):
    """The HTTP server and who may call it."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Every gateway request is answered within this many seconds (docs/gateway-api.md, "Deadline"): Moqui's HTTP
    # client gives up after about 30 s, so it may not exceed MAX_REQUEST_DEADLINE_SECONDS.
    request_deadline_seconds: float = Field(default=20.0, gt=0, le=25.0)
    # The address browsers and Stripe use to reach us (checkout return URLs, webhook URLs in docs).
    public_url: str = ""
    # Api keys by caller name (the name is what logs show; the key never is).
    api_keys: Mapping[str, SecretStr] = Field(default_factory=dict)
    # Basic-auth users (username -> password), for callers that send `Authorization: Basic`.
    users: Mapping[str, SecretStr] = Field(default_factory=dict)
    # Worker processes sharing the port (`serve --workers N`); start-up work runs once, in the parent.
    workers: int = Field(default=1, ge=1, le=64)
    # On SIGTERM/SIGINT: stop accepting, then wait this long for requests in flight (their Stripe calls) to finish.
    shutdown_timeout_seconds: float = Field(default=30.0, gt=0)
    # Slow clients (slowloris): a request's line and headers must arrive within this many seconds of the connection
    # opening or of the previous answer (idle keep-alive connections close then too), its body within the other.
    request_head_timeout_seconds: float = Field(default=15.0, gt=0, le=3600)
    request_body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("api_keys", "users")
    @classmethod
    def _no_empty_secrets(cls, value: Mapping[str, SecretStr]) -> Mapping[str, SecretStr]:
        # An empty key can never match, and its presence would stop serve from generating a usable one.
        empty = sorted(name for name, secret in value.items() if not secret.get_secret_value().strip() or not name)
        if empty:
            raise ValueError(f"empty name or secret for {', '.join(repr(name) for name in empty)}")
        return value


class DatabaseSettings(_Frozen):
    """This service's own database (journal, standalone Mantle tables); empty url means the embedded PostgreSQL in
    data_dir. It is never Moqui's database: the gateway API never reads or writes the caller's tables."""

    url: SecretStr | None = None
    data_dir: Path = DEFAULT_DATA_DIR / "postgres"
    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=20, ge=2)

    @field_validator("url")
    @classmethod
    def _empty_means_embedded(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty URL must not reach asyncpg, which would quietly connect with libpq's defaults.
        return value if value is not None and value.get_secret_value().strip() else None

    @model_validator(mode="after")
    def _pool_bounds(self) -> DatabaseSettings:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError(f"pool_min_size ({self.pool_min_size}) is above pool_max_size ({self.pool_max_size})")
        return self


class MoquiSettings(_Frozen):
    """How to reach Moqui's REST API (flows that start here, checkout and webhooks, ask Moqui to act); empty
    base_url: the standalone Mantle rules in this process act instead."""

    base_url: str = ""
    username: str = ""
    password: SecretStr | None = None
    api_key: SecretStr | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    # The client (an api key's name) whose PaymentIntents are Moqui's: webhooks about them go to Moqui.
    client_name: str = ""


# The image files a merchant logo may be, by suffix, with the content type they are served as.
MERCHANT_LOGO_TYPES: Final = {
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}


class CheckoutSettings(_Frozen):
    """The shopper-facing checkout page."""

    link_secret: SecretStr | None = None
    allowed_redirect_origins: tuple[str, ...] = ()
    default_gateway_config_id: str = "StripeGateway"
    place_order: bool = False
    link_lifetime_seconds: int = Field(default=3600, gt=0)
    # What the shopper's pages show as the seller: a name, and a logo image file served by this service (never a
    # third-party URL: the pages' CSP allows images from our own origin only).
    merchant_name: str = Field(default="", max_length=100)
    merchant_logo: Path | None = None

    @field_validator("merchant_logo", mode="before")
    @classmethod
    def _logo_is_an_image_file(cls, value: object) -> Path | None:
        # Empty (an unset environment variable) means no logo.
        if value is None or not str(value).strip():
            return None
        value = Path(str(value))
        if value.suffix.lower() not in MERCHANT_LOGO_TYPES:
            raise ValueError(f"merchant_logo must be a {', '.join(sorted(MERCHANT_LOGO_TYPES))} file")
        return value


class GatewaySettings(_Frozen):
    """Stripe credentials for one Mantle PaymentGatewayConfig (by paymentGatewayConfigId)."""

    secret_key: SecretStr
    publishable_key: str = ""
    webhook_secret: SecretStr | None = None
    # Stripe-compatible API base (the emulator in tests and the demo); empty means Stripe itself.
    api_base: str = ""
    stripe_js_url: str = "https://js.stripe.com/v3/"
    max_network_retries: int = Field(default=2, ge=0, le=10)
    # Per HTTP request to Stripe; with the retries it must fit under MAX_REQUEST_DEADLINE_SECONDS (checked).
    timeout_seconds: float = Field(default=6.0, gt=0)
    webhook_tolerance_seconds: int = Field(default=300, gt=0)
    # Stripe requests this gateway config may have in flight at once, per worker process.
    max_in_flight_requests: int = Field(default=64, ge=1, le=10_000)
    # Requests per second to this Stripe account across every process and host (a token bucket in PostgreSQL);
    # empty: Stripe's documented global limit for the key's mode (live 100/s, test 25/s, docs.stripe.com/rate-limits).
    rate_limit_per_second: float | None = Field(default=None, gt=0, le=100_000)
    # Stripe enables MOTO (mail and telephone orders) per account, on request: only then may cards entered by staff
    # be flagged `payment_method_options[card][moto]` (docs.stripe.com/payments/payment-intents/moto).
    moto_enabled: bool = False

    @field_validator("secret_key")
    @classmethod
    def _looks_like_a_secret_key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("sk_", "rk_")):
            raise ValueError("secret_key must be a Stripe secret or restricted key (sk_... or rk_...)")
        return value

    @field_validator("publishable_key")
    @classmethod
    def _looks_like_a_publishable_key(cls, value: str) -> str:
        # The checkout page publishes this key in its HTML: a secret key here would be given to every shopper.
        # The message names the key's kind only, never the key.
        if value and not value.startswith("pk_"):
            kind = "a secret or restricted key" if value.startswith(("sk_", "rk_")) else "not a Stripe publishable key"
            raise ValueError(f"publishable_key must be a publishable key (pk_test_... or pk_live_...); it is {kind}")
        return value

    @model_validator(mode="after")
    def _same_mode(self) -> GatewaySettings:
        secret_mode = key_mode(self.secret_key.get_secret_value())
        publishable_mode = key_mode(self.publishable_key) if self.publishable_key else secret_mode
        if publishable_mode != secret_mode:
            raise ValueError(
                f"publishable_key is a {publishable_mode}-mode key but secret_key is a {secret_mode}-mode key: "
                "both must come from the same Stripe mode"
            )
        return self


def key_mode(key: str) -> str:
    """A Stripe key's mode: "live" for sk_live_/rk_live_/pk_live_ keys, "test" for every other."""
    return "live" if key.split("_")[1:2] == ["live"] else "test"


class RetentionSettings(_Frozen):
    """How long records that grow with traffic are kept, and how often the prune job runs (service/maintenance)."""

    # Request-level Idempotency-Key answers: a key is honoured 24 hours; kept longer only to look into retries.
    idempotent_request_days: float = Field(default=7.0, ge=1.0)
    # Received webhook events (each with its payload): Stripe retries a delivery for up to 3 days.
    webhook_event_days: float = Field(default=90.0, ge=3.0)
    prune_interval_seconds: float = Field(default=3600.0, ge=10.0)


# Stripe forgets an idempotency key after 24 hours; a key replayed later runs as a new request.
STRIPE_KEY_MEMORY_HOURS = 24.0


class ReconcilerSettings(_Frozen):
    """In-doubt attempts (docs/payment-services.md, "In-doubt attempts"): replayed with their key while Stripe still
    remembers it, read from Stripe past `safe_age_hours`; the background reconciler's pace."""

    # Well under Stripe's 24 hours, so no key is ever replayed after Stripe may have forgotten it.
    safe_age_hours: float = Field(default=12.0, gt=0, lt=STRIPE_KEY_MEMORY_HOURS)
    interval_seconds: float = Field(default=60.0, ge=1.0)
    # Younger rows are left to the caller's own retry (it may be running right now).
    min_age_seconds: float = Field(default=60.0, ge=0.0)


class Settings(_Frozen):
    """The whole configuration of one moqui-stripe process."""

    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    moqui: MoquiSettings = MoquiSettings()
    checkout: CheckoutSettings = CheckoutSettings()
    gateways: Mapping[str, GatewaySettings] = Field(default_factory=dict)
    retention: RetentionSettings = RetentionSettings()
    reconciler: ReconcilerSettings = ReconcilerSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _stripe_waits_fit_the_deadline(self) -> Settings:
        # The SDK's worst case for one call: every try timing out, with its back-off between tries.
        for config_id, gateway in self.gateways.items():
            worst = stripe_worst_case_seconds(gateway.timeout_seconds, gateway.max_network_retries)
            if worst > MAX_REQUEST_DEADLINE_SECONDS:
                raise ValueError(
                    f"gateways.{config_id}: timeout_seconds {gateway.timeout_seconds} with max_network_retries "
                    f"{gateway.max_network_retries} can take {worst:.1f} s, more than the "
                    f"{MAX_REQUEST_DEADLINE_SECONDS:.0f} s within which Moqui needs an answer"
                )
        return self

    @model_validator(mode="after")
    def _moqui_client_is_named(self) -> Settings:
        # The checkout, webhooks and the reconciler act for the configured Moqui as one client: with several
        # credentials and no moqui.client_name, which one is Moqui's would be a guess, so it is refused at start-up.
        if self.moqui.base_url and not self.moqui.client_name and len(self.server.api_keys) != 1:
            raise ValueError(
                f"moqui.client_name: name the api key (or user) the Moqui at moqui.base_url calls with; "
                f"{len(self.server.api_keys)} api keys leave it open"
            )
        if self.moqui.client_name and self.moqui.client_name not in {*self.server.api_keys, *self.server.users}:
            raise ValueError(
                f"moqui.client_name {self.moqui.client_name!r} names no server.api_keys or server.users entry"
            )
        return self

    def moqui_client_name(self) -> str | None:
        """The client whose payments the configured Moqui records: `moqui.client_name`, else the name of the one api
        key; None without a Moqui or when several keys leave it open."""
        if not self.moqui.base_url:
            return None
        if self.moqui.client_name:
            return self.moqui.client_name
        names = list(self.server.api_keys)
        return names[0] if len(names) == 1 else None

    def gateway(self, payment_gateway_config_id: str) -> GatewaySettings | None:
        """The Stripe settings of one gateway config, or None when none are configured for it."""
        return self.gateways.get(payment_gateway_config_id)


# Environment variables: MOQUI_STRIPE_<SECTION>_<KEY>, e.g. MOQUI_STRIPE_SERVER_PORT, and for one gateway
# MOQUI_STRIPE_GATEWAY__<paymentGatewayConfigId>__<KEY> (double underscores keep ids with underscores intact).
_LIST_KEYS = {("checkout", "allowed_redirect_origins")}


_SECTIONS = ("server", "database", "moqui", "checkout", "retention", "reconciler")


def _named_keys(value: str, *, names_required: bool = False) -> dict[str, str]:
    """`name=key,name2=key2`; a bare key is named after its position (env-1, env-2, ...) unless names are required."""
    keys: dict[str, str] = {}
    for position, item in enumerate((part.strip() for part in value.split(",") if part.strip()), start=1):
        name, separator, key = item.partition("=")
        if not separator and names_required:
            raise ConfigError(f"item {position} has no name: expected name=value,name2=value2")
        keys[name.strip() if separator else f"env-{position}"] = key.strip() if separator else item
    return keys


def _closest(word: str, candidates: list[str]) -> str:
    """` (did you mean a or b?)` naming the valid words closest to a mistyped one, or nothing when none is close."""
    matches = difflib.get_close_matches(word, candidates, n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(matches)}?)" if matches else ""


def _environment_overrides(environment: Mapping[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if environment.get("DATABASE_URL"):
        overrides.setdefault("database", {})["url"] = environment["DATABASE_URL"]
    for name, value in environment.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :]
        if rest.startswith("GATEWAY__"):
            parts = rest.split("__")
            if len(parts) != 3 or not parts[1] or not parts[2]:
                raise ConfigError(f"{name}: expected {ENV_PREFIX}GATEWAY__<paymentGatewayConfigId>__<KEY>")
            overrides.setdefault("gateways", {}).setdefault(parts[1], {})[parts[2].lower()] = value
            continue
        if rest == "LOG_LEVEL":
            overrides["log_level"] = value.upper()
            continue
        section, _, key = rest.lower().partition("_")
        if section not in _SECTIONS or not key:
            close = difflib.get_close_matches(section, _SECTIONS, n=2, cutoff=0.6)
            names = [f"{ENV_PREFIX}{known.upper()}_{key.upper()}" for known in close]
            suggestion = f" (did you mean {' or '.join(names)}?)" if names else ""
            raise ConfigError(f"{name}: unknown setting{suggestion} (see README, Configuration)")
        parsed: Any = value
        if (section, key) in _LIST_KEYS:
            parsed = [item.strip() for item in value.split(",") if item.strip()]
        elif (section, key) in {("server", "api_keys"), ("server", "users")}:
            try:
                parsed = _named_keys(value, names_required=key == "users")
            except ConfigError as error:
                raise ConfigError(f"{name}: {error}") from None
        overrides.setdefault(section, {})[key] = parsed
    return overrides


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _valid_keys(location: tuple[str | int, ...]) -> list[str]:
    """The keys the section at ``location`` (the path to a mistyped key) accepts."""
    model: type[BaseModel] = Settings
    parts = [str(part) for part in location]
    while parts:
        part = parts.pop(0)
        if model is Settings and part == "gateways":
            del parts[:1]  # gateways.<paymentGatewayConfigId>
            model = GatewaySettings
            continue
        field = model.model_fields.get(part)
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        *section, key = first["loc"]
        return f"{location}: unknown key{_closest(str(key), _valid_keys(tuple(section)))}"
    return f"{location}: {first['msg']}"


def load_settings(
    config_file: Path | None = None,
    environment: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read the TOML file (if any), apply environment then explicit overrides, and validate.

    Raises ConfigError with a one-line message for a missing file, bad TOML or an invalid value.
    """
    raw: dict[str, Any] = {}
    if config_file is not None:
        try:
            raw = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {config_file}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"config file {config_file} is not valid TOML: {error}") from None
    raw = _merge(raw, _environment_overrides(os.environ if environment is None else environment))
    if overrides:
        raw = _merge(raw, overrides)
    try:
        return Settings.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"invalid configuration: {_describe(error)}") from None
