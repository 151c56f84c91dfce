"""A stateful stand-in for the Stripe API subset moqui-stripe uses (see `stripe_emulator.app.create_app`)."""

from stripe_emulator.app import create_app
from stripe_emulator.control import EmulatorControl
from stripe_emulator.state import EmulatorConfig, EmulatorState

__all__ = ["EmulatorConfig", "EmulatorControl", "EmulatorState", "create_app"]
