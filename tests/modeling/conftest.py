"""Stand-ins for released pretrained weights: randomly initialised torchvision classifiers (a
reduced-fc VGG16 in the layout of lufficc's ``vgg16_reducedfc.pth``, the authors' MobileNeXt in
that of ``mnext.pth.tar``) saved to local files, so the
weights-loading paths run offline on files of the real key names and shapes."""

from __future__ import annotations

import json
import os

import pytest
import torch
import torchvision
from torchvision.models import get_model_builder, get_model_weights, get_weight, list_models
from torchvision.models.vgg import cfgs, make_layers

from ssd.modeling.backbone.vgg import REDUCED_FC_URL

#: key names and shapes of the authors' MobileNeXt checkpoint (houqb/ssdlite-pytorch-mobilenext's
#: weights/mnext.pth.tar), as its MobileNeXt class reads them
HOUQB_KEYS = os.path.join(os.path.dirname(__file__), "fixtures", "houqb_mobilenext_imagenet_features.json")
HOUQB_WEIGHTS = "weights/mnext.pth.tar"


def houqb_mobilenext_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """The authors' MobileNeXt checkpoint layout (flat ``features.B.conv.K.*``): random values of
    the reference key names and shapes, plus an ImageNet classifier the backbone leaves out."""
    gen = torch.Generator().manual_seed(seed)
    with open(HOUQB_KEYS, encoding="utf-8") as f:
        shapes = json.load(f)
    # positive values (running variances); distinct step counters, so each tensor is told apart
    state = {k: (torch.tensor(1000 + i) if k.endswith("num_batches_tracked")
                 else torch.rand(v, generator=gen) + 0.5) for i, (k, v) in enumerate(shapes.items())}
    state.update({"classifier.1.weight": torch.randn(1000, 1280, generator=gen),
                  "classifier.1.bias": torch.randn(1000, generator=gen)})
    return state


def reduced_fc_vgg16_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """The layout of amdegroot's / lufficc's ``vgg16_reducedfc.pth``: an ``nn.ModuleList`` of the 30
    VGG16 feature layers (keys ``N.weight`` / ``N.bias``), pool5 at 30, fc6 (1024 x 512 x 3 x 3) at
    31, fc7 (1024 x 1024 x 1 x 1) at 33; random values."""
    torch.manual_seed(seed)
    state = {k: v.clone() for k, v in make_layers(cfgs["D"])[:30].state_dict().items()}
    state.update({
        "31.weight": torch.randn(1024, 512, 3, 3) * 0.01, "31.bias": torch.randn(1024) * 0.01,
        "33.weight": torch.randn(1024, 1024, 1, 1) * 0.01, "33.bias": torch.randn(1024) * 0.01,
    })
    return state


def torchvision_classifier(weights_name: str) -> torch.nn.Module:
    """The randomly initialised torchvision classifier that ``weights_name`` (a weights enum name,
    e.g. ``"MobileNet_V2_Weights.IMAGENET1K_V1"``) is released for."""
    enum = type(get_weight(weights_name))
    for name in list_models(module=torchvision.models):
        if get_model_weights(name) is enum:
            return get_model_builder(name)(weights=None)
    raise KeyError(f"no torchvision classifier for {weights_name}")


@pytest.fixture(scope="session")
def standin_weights(tmp_path_factory):
    """``spec -> (local path, state dict)``: a random stand-in for the weights a config names,
    saved once per session (the reduced-fc URL or a torchvision weights name)."""
    cache: dict[str, tuple[str, dict[str, torch.Tensor]]] = {}
    folder = tmp_path_factory.mktemp("standin_weights")

    def get(spec: str) -> tuple[str, dict[str, torch.Tensor]]:
        if spec not in cache:
            torch.manual_seed(len(cache))
            if spec == REDUCED_FC_URL:
                state = reduced_fc_vgg16_state()
            elif spec == HOUQB_WEIGHTS:
                state = houqb_mobilenext_state()
            else:
                state = torchvision_classifier(spec).state_dict()
            path = folder / f"{spec.rsplit('/', 1)[-1]}.pth"
            torch.save(state, path)
            cache[spec] = (str(path), state)
        return cache[spec]

    return get
