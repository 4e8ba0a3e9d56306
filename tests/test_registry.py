import pytest

from ssd.modeling import BACKBONES, LOSSES, NECKS, PREDICTORS
from ssd.utils.registry import Registry


def test_register_and_get():
    reg = Registry("thing")

    @reg.register("a")
    def make_a():
        return "A"

    assert reg.get("a") is make_a
    assert "a" in reg and len(reg) == 1 and list(reg) == ["a"]


def test_duplicate_name_raises():
    reg = Registry("thing")
    reg.register("a")(object)
    with pytest.raises(KeyError, match="thing 'a' is already registered"):
        reg.register("a")(int)


def test_unknown_name_lists_available():
    reg = Registry("backbone")
    reg.register("vgg16")(object)
    reg.register("mobilenet_v3_large")(object)
    with pytest.raises(KeyError, match="unknown backbone 'resnet'; available: mobilenet_v3_large, vgg16"):
        reg.get("resnet")


def test_built_in_registrations():
    assert {"vgg16", "mobilenet_v3_large", "mobilenet_v3_small"} <= set(BACKBONES)
    assert {"ssd_extras", "ssdlite_extras"} <= set(NECKS)
    assert {"ssd", "ssdlite"} <= set(PREDICTORS)
    assert "multibox" in LOSSES
