"""The service as a process of its own, for tests that kill it mid-request (`python -m` this module).

Arguments: the database DSN, the port, and the settings overrides as JSON (the same ones the test's own app uses).
"""

from __future__ import annotations

import json
import sys

from aiohttp import web

from service.app import create_app
from service.config import load_settings


def main() -> None:
    """Serve the app on 127.0.0.1:<port> until killed."""
    dsn, port, overrides = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    settings = load_settings(environment={}, overrides=overrides)
    web.run_app(create_app(settings, dsn), host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    main()
