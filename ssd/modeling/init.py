"""Initialisation of newly added conv layers (extras and predictors)."""

from torch import nn

from ..config.choices import INIT_MODES


def init_conv_weights(module: nn.Module, mode: str) -> None:
    """Re-initialise every conv in ``module``: ``"xavier"`` uniform (Caffe SSD, torchvision SSD300)
    or ``"normal"`` N(0, 0.03) (torchvision SSDLite); biases zero."""
    if mode not in INIT_MODES:
        raise ValueError(f"init = {mode!r}; expected one of {INIT_MODES}")
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            if mode == "xavier":
                nn.init.xavier_uniform_(m.weight)
            else:
                nn.init.normal_(m.weight, mean=0.0, std=0.03)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
