"""tools/train.py's path (setup_run -> train) with the stand-in model, for the torchrun test.

    python ddp_worker.py OUT_DIR            # one process
    torchrun --nproc_per_node=2 ddp_worker.py OUT_DIR
Rank 0 writes OUT_DIR/losses.json: the global loss terms of every step.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(os.path.dirname(HERE))]

from standins import standin_cfg, standin_trainer  # noqa: E402

from ssd.engine import HookBase, setup_run, train  # noqa: E402
from ssd.utils.distributed import destroy_distributed  # noqa: E402


class Record(HookBase):
    def before_train(self):
        self.losses = []

    def after_step(self):
        self.losses.append(self.trainer.step_info["losses"])


def main(out_dir: str) -> None:
    run = setup_run(standin_cfg(out_dir, test_sets=("standin_test",), MAX_ITER=3, BATCH_SIZE=4, CHECKPOINT_PERIOD=0))
    record = Record()
    train(run, trainer_class=standin_trainer(), extra_hooks=[record])
    if run.rank == 0:
        with open(os.path.join(out_dir, "losses.json"), "w") as f:
            json.dump({"world_size": run.world_size, "losses": record.losses}, f)
    destroy_distributed()


if __name__ == "__main__":
    main(sys.argv[1])
