"""Configuration: TOML, environment overrides, validation with one-line errors, and secrets kept out of reprs."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import pytest
from pydantic import SecretStr

from service.config import ConfigError, Settings, load_settings

TOML = """
[server]
port = 9090
api_keys = { moqui = "file-key-0123456789" }

[checkout]
allowed_redirect_origins = ["https://shop.example"]

[gateways.StripeGateway]
secret_key = "sk_test_fromfile"
webhook_secret = "whsec_fromfile"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "moqui-stripe.toml"
    path.write_text(TOML, encoding="utf-8")
    return path


def test_file_then_environment_then_explicit_overrides(config_file: Path) -> None:
    settings = load_settings(
        config_file,
        environment={
            "MOQUI_STRIPE_SERVER_PORT": "9191",
            "MOQUI_STRIPE_SERVER_REQUEST_DEADLINE_SECONDS": "15",
            "DATABASE_URL": "postgresql://moqui:pw@db/moqui",
            "MOQUI_STRIPE_CHECKOUT_ALLOWED_REDIRECT_ORIGINS": "https://a.example, https://b.example",
            "MOQUI_STRIPE_GATEWAY__Stripe_EU__SECRET_KEY": "sk_test_eu",
            "MOQUI_STRIPE_SERVER_API_KEYS": "ops=env-key-0123456789",
        },
        overrides={"server": {"port": 9292}},
    )
    assert settings.server.port == 9292  # explicit (command line) wins over environment and file
    assert settings.server.request_deadline_seconds == 15
    assert settings.database.url is not None and settings.database.url.get_secret_value().endswith("@db/moqui")
    assert settings.checkout.allowed_redirect_origins == ("https://a.example", "https://b.example")
    # Named keys merge (the environment adds "ops" beside the file's "moqui"): how keys are rotated without downtime.
    assert {name: key.get_secret_value() for name, key in settings.server.api_keys.items()} == {
        "moqui": "file-key-0123456789",
        "ops": "env-key-0123456789",
    }
    stripe_eu = settings.gateway("Stripe_EU")  # underscores in the id survive the double-underscore separator
    assert stripe_eu is not None and stripe_eu.secret_key.get_secret_value() == "sk_test_eu"
    assert settings.gateway("StripeGateway") is not None and settings.gateway("Unknown") is None


def test_secrets_never_show_in_a_repr(config_file: Path) -> None:
    text = repr(load_settings(config_file, environment={}))
    for secret in ("file-key-0123456789", "sk_test_fromfile", "whsec_fromfile"):
        assert secret not in text


def test_an_empty_database_url_means_the_embedded_database() -> None:
    settings = load_settings(environment={"MOQUI_STRIPE_DATABASE_URL": "  "})
    assert settings.database.url is None


def test_moqui_client_left_open_or_unknown_is_refused_at_start_up() -> None:
    # Checkout, webhooks and the reconciler act for Moqui as one client: which of several it is is never guessed.
    moqui = {"MOQUI_STRIPE_MOQUI_BASE_URL": "https://erp.example"}
    two_keys = {**moqui, "MOQUI_STRIPE_SERVER_API_KEYS": "moqui-eu=k-0123456789,moqui-test=k-9876543210"}
    for environment, message in [
        (two_keys, "2 api keys leave it open"),
        (moqui, "0 api keys leave it open"),
        ({**two_keys, "MOQUI_STRIPE_MOQUI_CLIENT_NAME": "moqui-us"}, "'moqui-us' names no server.api_keys"),
    ]:
        with pytest.raises(ConfigError, match=r"moqui\.client_name") as caught:
            load_settings(environment=environment)
        assert message in str(caught.value)
    users = {**moqui, "MOQUI_STRIPE_SERVER_USERS": "erp=a-long-password", "MOQUI_STRIPE_MOQUI_CLIENT_NAME": "erp"}
    assert load_settings(environment=users).moqui_client_name() == "erp"


def test_moqui_client_is_the_named_client_else_the_one_api_key() -> None:
    moqui = {"MOQUI_STRIPE_MOQUI_BASE_URL": "https://erp.example"}
    one_key = {**moqui, "MOQUI_STRIPE_SERVER_API_KEYS": "moqui-eu=k-0123456789"}
    two_keys = {**moqui, "MOQUI_STRIPE_SERVER_API_KEYS": "moqui-eu=k-0123456789,moqui-test=k-9876543210"}
    assert load_settings(environment=one_key).moqui_client_name() == "moqui-eu"
    named = {**two_keys, "MOQUI_STRIPE_MOQUI_CLIENT_NAME": "moqui-test"}
    assert load_settings(environment=named).moqui_client_name() == "moqui-test"
    # Without a Moqui nothing is sent anywhere, whatever the keys.
    assert load_settings(environment={"MOQUI_STRIPE_SERVER_API_KEYS": "a=k-0123456789"}).moqui_client_name() is None


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"MOQUI_STRIPE_SERVER_API_KEYS": "ops="}, "server.api_keys"),
        ({"MOQUI_STRIPE_GATEWAY__StripeGateway__SECRET_KEY": "pk_test_wrong"}, "secret_key"),
        ({"MOQUI_STRIPE_DATABASE_POOL_MIN_SIZE": "50", "MOQUI_STRIPE_DATABASE_POOL_MAX_SIZE": "10"}, "pool_min_size"),
        ({"MOQUI_STRIPE_SERVER_PORT": "eighty"}, "server.port"),
        ({"MOQUI_STRIPE_SERVER_COLOUR": "blue"}, "server.colour: unknown key"),
        ({"MOQUI_STRIPE_WEBHOOK": "x"}, "unknown setting"),
        ({"MOQUI_STRIPE_GATEWAY__StripeGateway": "x"}, "GATEWAY__<paymentGatewayConfigId>__<KEY>"),
    ],
)
def test_bad_values_are_one_clear_line(environment: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environment=environment)
    text = str(caught.value)
    assert message in text and "\n" not in text
    assert "pk_test_wrong" not in text


def test_a_missing_or_broken_file_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "absent.toml", environment={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\nport = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(broken, environment={})


# One case per row of README's configuration table: (TOML literal, environment value, the value loaded). The test
# below checks the table itself against these cases, so a new row without a case fails.
GATEWAY_ID = "StripeGateway"
README_ROWS: dict[str, tuple[str, str, object]] = {
    "server.host": ('"0.0.0.0"', "0.0.0.0", "0.0.0.0"),
    "server.port": ("9099", "9099", 9099),
    "server.request_deadline_seconds": ("15", "15", 15.0),
    "server.public_url": ('"https://pay.example"', "https://pay.example", "https://pay.example"),
    "server.api_keys": ('{ moqui = "k-0123456789" }', "moqui=k-0123456789", {"moqui": "k-0123456789"}),
    "server.users": (
        '{ ops = "pw-0123", bob = "pw-4567" }',
        "ops=pw-0123,bob=pw-4567",
        {"ops": "pw-0123", "bob": "pw-4567"},
    ),
    "server.request_head_timeout_seconds": ("5", "5", 5.0),
    "server.request_body_timeout_seconds": ("7.5", "7.5", 7.5),
    "database.url": ('"postgresql://u:p@db/x"', "postgresql://u:p@db/x", "postgresql://u:p@db/x"),
    "database.data_dir": ('"/srv/pg"', "/srv/pg", Path("/srv/pg")),
    "database.pool_min_size": ("3", "3", 3),
    "database.pool_max_size": ("40", "40", 40),
    "server.workers": ("4", "4", 4),
    "server.shutdown_timeout_seconds": ("12", "12", 12.0),
    "moqui.base_url": ('"https://erp.example"', "https://erp.example", "https://erp.example"),
    "moqui.username": ('"stripe"', "stripe", "stripe"),
    "moqui.password": ('"moqui-pw"', "moqui-pw", "moqui-pw"),
    "moqui.api_key": ('"moqui-key"', "moqui-key", "moqui-key"),
    "moqui.timeout_seconds": ("12", "12", 12.0),
    "moqui.client_name": ('"moqui-eu"', "moqui-eu", "moqui-eu"),
    "checkout.link_secret": ('"link-secret"', "link-secret", "link-secret"),
    "checkout.allowed_redirect_origins": (
        '["https://a.example", "https://b.example"]',
        "https://a.example, https://b.example",
        ("https://a.example", "https://b.example"),
    ),
    "checkout.default_gateway_config_id": ('"Other"', "Other", "Other"),
    "checkout.place_order": ("true", "true", True),
    "checkout.link_lifetime_seconds": ("600", "600", 600),
    "checkout.merchant_name": ('"Example Shop"', "Example Shop", "Example Shop"),
    "checkout.merchant_logo": ('"/srv/logo.svg"', "/srv/logo.svg", Path("/srv/logo.svg")),
    "gateways.<id>.secret_key": ('"sk_test_row"', "sk_test_row", "sk_test_row"),
    "gateways.<id>.publishable_key": ('"pk_test_row"', "pk_test_row", "pk_test_row"),
    "gateways.<id>.webhook_secret": ('"whsec_row"', "whsec_row", "whsec_row"),
    "gateways.<id>.webhook_tolerance_seconds": ("60", "60", 60),
    "gateways.<id>.api_base": ('"http://127.0.0.1:12111"', "http://127.0.0.1:12111", "http://127.0.0.1:12111"),
    "gateways.<id>.stripe_js_url": ('"http://127.0.0.1/v3/"', "http://127.0.0.1/v3/", "http://127.0.0.1/v3/"),
    "gateways.<id>.max_network_retries": ("0", "0", 0),
    "gateways.<id>.timeout_seconds": ("7", "7", 7.0),
    "gateways.<id>.max_in_flight_requests": ("16", "16", 16),
    "gateways.<id>.rate_limit_per_second": ("50", "50", 50.0),
    "gateways.<id>.moto_enabled": ("true", "true", True),
    "retention.idempotent_request_days": ("2", "2", 2.0),
    "retention.webhook_event_days": ("30", "30", 30.0),
    "retention.prune_interval_seconds": ("60", "60", 60.0),
    "reconciler.safe_age_hours": ("6", "6", 6.0),
    "reconciler.interval_seconds": ("30", "30", 30.0),
    "reconciler.min_age_seconds": ("5", "5", 5.0),
    "log_level": ('"DEBUG"', "debug", "DEBUG"),
}
README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_configuration_rows() -> dict[str, list[str]]:
    """README's configuration table: TOML key -> its environment variables (the backticked names in each column)."""
    section = README.read_text(encoding="utf-8").split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`"):
            continue
        key = re.findall(r"`([^`]+)`", cells[0])[0]
        rows[key] = [name for name in re.findall(r"`([^`]+)`", cells[1]) if re.fullmatch(r"[A-Z_<>a-z]+", name)]
    return rows


def _plain(value: object) -> object:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Mapping):
        return {name: _plain(item) for name, item in value.items()}
    return value


def _loaded(settings: Settings, key: str) -> object:
    value: object = settings
    for part in key.split("."):
        value = value[GATEWAY_ID] if isinstance(value, Mapping) else getattr(value, part)
    return _plain(value)


def _base_gateway(key: str) -> dict[str, str]:
    # Every gateway row needs the required secret key beside it (its own row sets that very key).
    return {"secret_key": "sk_test_base"} if key.startswith("gateways.") and key != "gateways.<id>.secret_key" else {}


def _base_environment(key: str) -> dict[str, str]:
    # A Moqui row needs the api key the Moqui calls with, named as moqui.client_name's own row names it.
    return {"MOQUI_STRIPE_SERVER_API_KEYS": "moqui-eu=k-0123456789"} if key.startswith("moqui.") else {}


def test_every_readme_configuration_row_has_a_case() -> None:
    rows = _readme_configuration_rows()
    assert sorted(rows) == sorted(README_ROWS)
    assert all(rows.values()), [key for key, names in rows.items() if not names]


@pytest.mark.parametrize("key", sorted(README_ROWS))
def test_every_readme_configuration_row_from_toml(key: str, tmp_path: Path) -> None:
    literal, _, expected = README_ROWS[key]
    *section, name = key.replace("<id>", GATEWAY_ID).split(".")
    base = "".join(f"{base_key} = {json.dumps(value)}\n" for base_key, value in _base_gateway(key).items())
    header = f"[{'.'.join(section)}]\n{base}" if section else ""
    path = tmp_path / "row.toml"
    path.write_text(f"{header}{name} = {literal}\n", encoding="utf-8")
    assert _loaded(load_settings(path, environment=_base_environment(key)), key) == expected


@pytest.mark.parametrize("key", sorted(README_ROWS))
def test_every_readme_configuration_row_from_the_environment(key: str) -> None:
    _, value, expected = README_ROWS[key]
    for variable in _readme_configuration_rows()[key]:
        variable = variable.replace("<id>", GATEWAY_ID)
        base = {f"MOQUI_STRIPE_GATEWAY__{GATEWAY_ID}__{k.upper()}": v for k, v in _base_gateway(key).items()}
        environment = {**_base_environment(key), **base, variable: value}
        assert _loaded(load_settings(environment=environment), key) == expected, variable


@pytest.mark.parametrize(
    ("overrides", "environment", "message"),
    [
        ({"server": {"api_key": {"a": "b"}}}, {}, "server.api_key: unknown key (did you mean api_keys?)"),
        ({"sever": {"port": 1}}, {}, "sever: unknown key (did you mean server?)"),
        ({"retention": {"webhook_event_dys": 9}}, {}, "unknown key (did you mean webhook_event_days?)"),
        (
            {"gateways": {"G": {"secret_key": "sk_test_1", "publishable_kye": "pk_test_1"}}},
            {},
            "gateways.G.publishable_kye: unknown key (did you mean publishable_key?)",
        ),
        ({}, {"MOQUI_STRIPE_SERVER_PROT": "1"}, "server.prot: unknown key (did you mean port?)"),
        (
            {},
            {"MOQUI_STRIPE_SERVR_PORT": "1"},
            "MOQUI_STRIPE_SERVR_PORT: unknown setting (did you mean MOQUI_STRIPE_SERVER_PORT?)",
        ),
        ({}, {"MOQUI_STRIPE_SERVER_USERS": "just-a-password"}, "MOQUI_STRIPE_SERVER_USERS: item 1 has no name"),
    ],
)
def test_a_mistyped_key_names_the_closest_valid_keys(
    overrides: dict[str, object], environment: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environment=environment, overrides=overrides)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert "just-a-password" not in str(caught.value)


@pytest.mark.parametrize(
    ("secret_key", "publishable_key", "message"),
    [
        ("sk_test_a1", "sk_test_b2", "it is a secret or restricted key"),
        ("sk_test_a1", "rk_test_b2", "it is a secret or restricted key"),
        ("sk_test_a1", "not-a-key", "it is not a Stripe publishable key"),
        ("sk_live_a1", "pk_test_b2", "publishable_key is a test-mode key but secret_key is a live-mode key"),
        ("rk_test_a1", "pk_live_b2", "publishable_key is a live-mode key but secret_key is a test-mode key"),
    ],
)
def test_the_publishable_key_must_be_one_of_the_same_mode(secret_key: str, publishable_key: str, message: str) -> None:
    gateway = {"secret_key": secret_key, "publishable_key": publishable_key}
    with pytest.raises(ConfigError) as caught:
        load_settings(environment={}, overrides={"gateways": {"G": gateway}})
    text = str(caught.value)
    assert message in text and "\n" not in text
    assert secret_key not in text and publishable_key not in text  # the refused key may be a secret: never echoed


def test_matching_keys_of_either_mode_are_accepted() -> None:
    for mode in ("test", "live"):
        gateway = {"secret_key": f"rk_{mode}_a1", "publishable_key": f"pk_{mode}_b2"}
        settings = load_settings(environment={}, overrides={"gateways": {"G": gateway}})
        assert settings.gateways["G"].publishable_key == f"pk_{mode}_b2"


@pytest.mark.parametrize("hours", ["24", "30", "0"])
def test_a_safe_age_stripe_may_outlive_is_refused_at_start_up(hours: str) -> None:
    # Stripe forgets an idempotency key after 24 hours (docs.stripe.com/api/idempotent_requests): a replay past that
    # runs as a new request, so in-doubt attempts must be read from Stripe before then.
    with pytest.raises(ConfigError) as caught:
        load_settings(environment={"MOQUI_STRIPE_RECONCILER_SAFE_AGE_HOURS": hours})
    assert str(caught.value).startswith("invalid configuration: reconciler.safe_age_hours:")
