import logging

import torch
from torch import nn

from ssd.engine.runner import prepare_for_world


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_sync_bn_on_cpu_is_logged_and_batchnorm_kept():
    handler = _Collect()
    logger = logging.getLogger("ssd.engine.runner")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        out = prepare_for_world(model, sync_bn=True, device=torch.device("cpu"), world_size=1)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert out is model and isinstance(out[1], nn.BatchNorm2d)
    assert handler.messages == ["MODEL.SYNC_BN: SyncBatchNorm is not available on CPU; keeping BatchNorm"]
