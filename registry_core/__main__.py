"""Allow `python -m registry_core`."""

import sys

from registry_core.cli import main

sys.exit(main())
