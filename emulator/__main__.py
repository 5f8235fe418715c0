"""``python -m emulator`` is the ``outbound`` command."""

import sys

from emulator.cli import main

sys.exit(main())
