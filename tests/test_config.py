"""Configuration: TOML, environment overrides, validation with one-line errors, and secrets kept out of reprs."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config import ConfigError, load_settings

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


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"MOQUI_STRIPE_SERVER_API_KEYS": "ops="}, "server.api_keys"),
        ({"MOQUI_STRIPE_GATEWAY__StripeGateway__SECRET_KEY": "pk_test_wrong"}, "secret_key"),
        ({"MOQUI_STRIPE_DATABASE_POOL_MIN_SIZE": "50", "MOQUI_STRIPE_DATABASE_POOL_MAX_SIZE": "10"}, "pool_min_size"),
        ({"MOQUI_STRIPE_SERVER_PORT": "eighty"}, "server.port"),
        ({"MOQUI_STRIPE_SERVER_COLOUR": "blue"}, "server.colour: Extra inputs are not permitted"),
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
