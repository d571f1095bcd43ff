"""`python -m fediverse` runs the CLI (same as the `fediverse` console script)."""

import sys

from fediverse.cli import main

sys.exit(main())
