"""`python -m export_core`: see export_core.cli."""

import sys

from .cli import main

sys.exit(main())
