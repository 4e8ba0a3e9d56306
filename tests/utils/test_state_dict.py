import pytest
import torch

from ssd.checkpoint.io import model_state
from ssd.utils.distributed import per_process_batch
from ssd.utils.state_dict import strip_prefix


def test_strip_prefix_only_when_every_key_has_it():
    assert strip_prefix({"module.a": 1, "module.b": 2}) == {"a": 1, "b": 2}
    assert strip_prefix({"module.a": 1, "b": 2}) == {"module.a": 1, "b": 2}
    assert strip_prefix({}) == {}


def test_checkpoint_loading_strips_the_ddp_prefix_through_the_shared_helper():
    w = torch.ones(2)
    assert list(model_state({"model": {"module.conv.weight": w}}, source="x.pth")) == ["conv.weight"]


def test_per_process_batch_is_the_one_divisibility_check_of_engine_and_data():
    from ssd.data import build as data_build
    from ssd.engine import scaling

    assert scaling.per_process_batch is data_build.per_process_batch is per_process_batch
    assert per_process_batch(32, 4) == 8
    with pytest.raises(ValueError, match="BATCH_SIZE = 30 .* world size 4"):
        per_process_batch(30, 4)
