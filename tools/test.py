#!/usr/bin/env python
"""Runs ``ssd.tools.test``: the same code as ``ssd test`` (see that module for usage)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ssd.tools.test import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
