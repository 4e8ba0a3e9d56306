#!/usr/bin/env python
"""Runs ``ssd.tools.quickstart``: the same code as ``ssd quickstart`` (see that module for usage)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ssd.tools.quickstart import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
