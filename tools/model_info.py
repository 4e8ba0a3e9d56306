#!/usr/bin/env python
"""Runs ``ssd.tools.model_info``: the same code as ``ssd model_info`` (see that module for usage)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ssd.tools.model_info import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
