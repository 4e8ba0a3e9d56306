#!/usr/bin/env python
"""Runs ``ssd.tools.export``: the same code as ``ssd export`` (see that module for usage)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ssd.tools.export import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
