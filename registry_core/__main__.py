"""Allow ``python -m registry_core`` (the same commands as ``model-registry``)."""

import sys

from registry_core.cli.app import main

sys.exit(main())
