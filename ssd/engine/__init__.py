"""Training loop (trainer + hooks), inference, and the run set-up shared by the tools."""

from .defaults import DefaultTrainer, train
from .hooks import BestCheckpointer, EvalHook, HookBase, LoggingHook, PeriodicCheckpointer
from .inference import inference_context, rescale_boxes, run_inference
from .runner import DatasetEvaluation, Run, evaluate, iter_evaluations, setup_run
from .scaling import per_process_batch, scale_for_world
from .trainer import Trainer, nonfinite_message, unwrap

__all__ = [
    "BestCheckpointer", "DatasetEvaluation", "DefaultTrainer", "EvalHook", "HookBase", "LoggingHook",
    "PeriodicCheckpointer", "Run", "Trainer", "evaluate", "inference_context", "iter_evaluations",
    "nonfinite_message", "per_process_batch", "rescale_boxes", "run_inference", "scale_for_world", "setup_run",
    "train", "unwrap",
]
