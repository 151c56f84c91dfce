"""`python -m stripe_emulator`."""

import sys

from stripe_emulator.server import main

sys.exit(main())
