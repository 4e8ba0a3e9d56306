#!/usr/bin/env python
"""Runs ``ssd.tools.visualize_data``: image grids of the training data after augmentation, or of a
test set's ground truth (see that module for usage)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ssd.tools.visualize_data import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
