#!/usr/bin/env python
"""Runs ``ssd.tools.demo``: the same code as ``ssd demo`` (see that module for usage)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ssd.tools.demo import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
