"""A few SGD steps of a tiny real SSD (BoxPredictor + SSDBoxHead + the registered losses), for the
test that DDP at equal total batch equals one process.

    python ddp_loss_worker.py OUT_DIR                              # one process, the whole batch
    torchrun --standalone --nproc_per_node=2 ddp_loss_worker.py OUT_DIR   # each rank half of it

BatchNorm is frozen (eval mode), so each image's gradient does not depend on the rest of its shard.
Rank 0 writes OUT_DIR/result.pt: per loss, the global loss terms of every step, every rank's
positive-prior count per step, and the final weights.
"""

import os
import sys

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(os.path.dirname(HERE))]

from ssd.modeling.anchors import boxes_per_location, default_boxes  # noqa: E402
from ssd.modeling.detector import InputNormalizer, SSDDetector  # noqa: E402
from ssd.modeling.head.box_head import SSDBoxHead, build_targets  # noqa: E402
from ssd.modeling.head.box_predictor import BoxPredictor  # noqa: E402
from ssd.modeling.loss import FocalLoss, MultiBoxLoss  # noqa: E402
from ssd.utils.distributed import (  # noqa: E402
    all_gather_object,
    destroy_distributed,
    get_rank,
    get_world_size,
    init_distributed,
    reduce_mean,
)

SIZE, BATCH, STEPS, NUM_CLASSES = 32, 4, 3, 3
ASPECT_RATIOS = [[2], [2]]
# objects per image of each step's batch: the two halves (ranks) hold different positive counts
OBJECTS = [[3, 1, 0, 2], [1, 1, 4, 0], [2, 0, 1, 1]]


class TinyBackbone(nn.Module):
    """Maps at strides 4 and 8 with a BatchNorm (frozen in this test)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.down = nn.Sequential(nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU())

    def forward(self, x):
        a = self.stem(x)
        return [a, self.down(a)]


def tiny_ssd(loss) -> SSDDetector:
    torch.manual_seed(0)
    backbone = TinyBackbone()
    with torch.no_grad():  # non-trivial running statistics, as a pretrained backbone has
        bn = backbone.stem[1]
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    priors = default_boxes(feature_sizes=[(8, 8), (4, 4)], image_size=(SIZE, SIZE), min_sizes=[8, 16],
                           max_sizes=[16, 28], aspect_ratios=ASPECT_RATIOS)
    predictor = BoxPredictor(in_channels=[8, 8], boxes_per_location=boxes_per_location(ASPECT_RATIOS),
                             num_classes=NUM_CLASSES, cls_bias_prior=loss.cls_bias_prior)
    head = SSDBoxHead(predictor=predictor, priors=priors, image_size=(SIZE, SIZE), loss=loss, matcher="bipartite")
    return SSDDetector(normalizer=InputNormalizer(mean=[128.0] * 3, std=[64.0] * 3), backbone=backbone,
                       neck=nn.Identity(), box_head=head, image_size=SIZE)


def batch(step: int):
    """The global batch of ``step``: a pure function of it, as the real sampler's."""
    g = torch.Generator().manual_seed(100 + step)
    images = torch.randint(0, 256, (BATCH, 3, SIZE, SIZE), generator=g, dtype=torch.uint8)
    targets = []
    for n in OBJECTS[step]:
        xy = torch.rand(n, 2, generator=g) * 20
        boxes = torch.cat([xy, xy + 4 + torch.rand(n, 2, generator=g) * 8], dim=1)
        targets.append({"boxes": boxes, "labels": torch.randint(1, NUM_CLASSES, (n,), generator=g)})
    return images, targets


def train(loss, rank: int, world_size: int) -> dict:
    model = tiny_ssd(loss)
    model.train()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()  # frozen: running statistics, no batch statistics
    net = nn.parallel.DistributedDataParallel(model) if world_size > 1 else model
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    per = BATCH // world_size
    losses, positives = [], []
    for step in range(STEPS):
        images, targets = batch(step)
        mine = slice(rank * per, (rank + 1) * per)
        images, targets = images[mine], targets[mine]
        loss_dict = net(images, targets)
        total = sum(loss_dict.values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        losses.append({k: float(v) for k, v in reduce_mean({k: v.detach() for k, v in loss_dict.items()}).items()})
        head = model.box_head
        labels, _ = build_targets(targets, head.priors, head.box_coder, head.iou_threshold, head.matcher)
        positives.append(all_gather_object(int((labels > 0).sum())))
    return {"losses": losses, "positives": positives, "weights": model.state_dict()}


def run_all(rank: int, world_size: int) -> dict:
    result = {"world_size": world_size}
    for name, loss in (("multibox", MultiBoxLoss()), ("focal", FocalLoss(cls_weight=5.0))):
        result[name] = train(loss, rank, world_size)
    return result


def main(out_dir: str) -> None:
    torch.set_num_threads(1)
    init_distributed(torch.device("cpu"))
    rank = get_rank()
    result = run_all(rank, get_world_size())
    if rank == 0:
        os.makedirs(out_dir, exist_ok=True)
        torch.save(result, os.path.join(out_dir, "result.pt"))
    destroy_distributed()


if __name__ == "__main__":
    main(sys.argv[1])
