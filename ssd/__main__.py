"""``python -m ssd <command> ...``: the ``ssd`` command without installing it (see :mod:`ssd.cli`)."""

import sys

from .cli import main

sys.exit(main())
