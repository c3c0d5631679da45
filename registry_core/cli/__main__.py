"""Allow ``python -m registry_core.cli``."""

import sys

from registry_core.cli.app import main

sys.exit(main())
