"""The extra levels shared by the lufficc and sandglass necks (``chain_levels``, ``ExtraLevels``)."""

from __future__ import annotations

import pytest
import torch

from ssd.modeling.neck.lufficc_extras import InvertedResidualExtras
from ssd.modeling.neck.sandglass_extras import SandglassExtras


@pytest.mark.parametrize(("neck", "kind"), [(InvertedResidualExtras, "inverted-residual"),
                                            (SandglassExtras, "sandglass")])
def test_per_level_lists_of_other_lengths_are_refused_naming_the_neck(neck, kind):
    with pytest.raises(ValueError, match=rf"^{kind} extras need one entry per level: out_channels \[8, 8\], "
                                         r"mid_channels \[4\], strides \[2, 2\]$"):
        neck(in_channels=[16], out_channels=[8, 8], mid_channels=[4], strides=[2, 2])


@pytest.mark.parametrize("neck_input_only", [False, True])
def test_levels_chain_from_the_last_map_and_the_neck_input_is_a_head_level_unless_said(neck_input_only):
    neck = SandglassExtras(in_channels=[4, 16], out_channels=[8, 6], mid_channels=[4, 3], strides=[2, 2],
                           neck_input_only=neck_input_only).eval()
    features = [torch.randn(1, 4, 9, 9), torch.randn(1, 16, 5, 5)]
    shapes = [tuple(o.shape) for o in neck(features)]
    expected = [(1, 4, 9, 9), (1, 16, 5, 5), (1, 8, 3, 3), (1, 6, 2, 2)]
    if neck_input_only:
        expected.pop(1)
    assert shapes == expected
    assert neck.out_channels == [s[1] for s in expected]
    assert [type(m).__name__ for m in neck.blocks[1]] == ["Conv2dNormActivation"] * 3
    assert neck.blocks[1][1][0].out_channels == 3  # mid_channels reach the reducing 1x1
