"""The one owner of a training run's checkpoint files (detectron2's ``DetectionCheckpointer``).

A :class:`Checkpointer` writes ``model_<iteration>.pth`` atomically with the last-checkpoint pointer
and the newest ``keep`` kept (:mod:`ssd.utils.checkpoint`), keeps ``model_best.pth`` + ``best.json``
(:class:`~ssd.checkpoint.best.BestCheckpoint`), and starts a run: from the last checkpoint of its
folder (resume: the weights must be this model's and the config compatible,
:func:`~ssd.checkpoint.resume.check_resume`) or from ``MODEL.WEIGHTS`` (fine-tuning, classes
carried over by name: :func:`~ssd.checkpoint.pretrained.load_pretrained_weights`).

Every file it writes stores the run's config and class names beside the state it is given. Every
rank calls :meth:`Checkpointer.save` (all of them stop together on non-finite weights); only the
one built with ``save_to_disk`` writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn
from yacs.config import CfgNode

from ..modeling.head.class_transfer import TransferReport
from ..utils import checkpoint as files
from .best import BestCheckpoint
from .io import load_checkpoint, load_model_weights
from .pretrained import load_pretrained_weights
from .resume import check_resume

logger = logging.getLogger(__name__)


class Checkpointer:
    """Checkpoints of ``model`` (the unwrapped detector) in ``save_dir``.

    Args:
        model: the detector whose weights are saved and loaded (not a DDP wrapper).
        save_dir: the run's OUTPUT_DIR.
        config: the run's resolved config (stored in every file as YAML; compared on resume).
        class_names: the run's classes, background excluded (stored in every file).
        keep: how many ``model_<iteration>.pth`` to keep (``<= 0``: all); ``model_best.pth`` stays.
        save_to_disk: whether this process writes (rank 0).
    """

    def __init__(
        self,
        model: nn.Module,
        save_dir: str,
        *,
        config: CfgNode,
        class_names: Sequence[str],
        keep: int = 0,
        save_to_disk: bool = True,
    ) -> None:
        self.model, self.save_dir, self.config = model, save_dir, config
        self.class_names, self.keep, self.save_to_disk = list(class_names), keep, save_to_disk
        self.best: BestCheckpoint | None = None
        self.resumed_from: str | None = None  # the checkpoint resume_or_load continued from

    @property
    def num_classes(self) -> int:
        return len(self.class_names) + 1

    def metadata(self) -> dict[str, Any]:
        """What every file stores beside the weights: ``config`` (YAML) and ``class_names``."""
        return {"config": self.config.dump(), "class_names": list(self.class_names)}

    # -- writing ------------------------------------------------------------------------------
    def save(self, state: Mapping[str, Any], *, iteration: int) -> str | None:
        """``model_<iteration>.pth`` of ``state`` (a training loop's state dict) + :meth:`metadata`;
        returns the file written (``None`` on a process that does not write). Raises
        ``FloatingPointError`` on every rank when the weights hold NaN or infinity."""
        full = {**state, **self.metadata()}
        files.check_finite(full, what=f"the checkpoint of iteration {iteration}")
        if not self.save_to_disk:
            return None
        return files.save_checkpoint(full, directory=self.save_dir, iteration=iteration, keep=self.keep)

    def open_best(self) -> BestCheckpoint:
        """The best-checkpoint record of ``save_dir`` (continuing a ``best.json`` already there)."""
        if self.best is None:
            self.best = BestCheckpoint(directory=self.save_dir)
        return self.best

    def update_best(
        self, weights: Callable[[], Mapping[str, Any]], *, iteration: int, dataset: str, result: Mapping[str, Any]
    ) -> bool:
        """Write ``model_best.pth`` (``weights()`` + :meth:`metadata`) when ``result``'s primary
        metric beats the best so far; returns whether it did. Only on a process that writes."""
        if not self.save_to_disk:
            return False
        return self.open_best().update(iteration=iteration, dataset=dataset, result=result,
                                       weights=lambda: {**weights(), **self.metadata()})

    # -- reading ------------------------------------------------------------------------------
    def last_checkpoint(self) -> str | None:
        """The checkpoint a resumed run continues from (the pointer's, else the newest), or ``None``."""
        return files.last_checkpoint(self.save_dir)

    def resume(self, path: str, *, allow_model_change: bool = False) -> dict[str, Any]:
        """Load ``path``'s trained weights (not the EMA ones) into the model and return the whole
        checkpoint, for the loop's optimizer, scheduler, EMA and RNG state. Raises ``ValueError``
        when it was trained as another model (:func:`~ssd.checkpoint.resume.check_resume`, unless
        ``allow_model_change``) or its tensors do not fit (the architecture-mismatch message)."""
        state = load_checkpoint(path)
        check_resume(state, source=path, config=self.config, class_names=self.class_names,
                     allow_model_change=allow_model_change)
        load_model_weights(self.model, state, source=path, config=self.config, num_classes=self.num_classes,
                           ema=False)
        return state

    def load_weights(
        self, path_or_url: str, *, class_map: Mapping[str, str] | None = None, allow_partial: bool = False
    ) -> TransferReport:
        """``MODEL.WEIGHTS``: a detector checkpoint (path or URL) into the model, carried over to this
        run's classes by name (``class_map``: ``{this run's class: checkpoint's class}``); the
        report is logged and written as ``weights_transfer.json`` in ``save_dir``."""
        checkpoint = load_checkpoint(path_or_url, option="MODEL.WEIGHTS")
        report = load_pretrained_weights(
            self.model, checkpoint, source=path_or_url, class_names=self.class_names, class_map=class_map,
            allow_partial=allow_partial, config=self.config, num_classes=self.num_classes,
            output_dir=self.save_dir if self.save_to_disk else None,
        )
        logger.info("initialised the model from MODEL.WEIGHTS = %s", path_or_url)
        return report

    def resume_or_load(
        self,
        weights: str,
        *,
        resume: bool = True,
        class_map: Mapping[str, str] | None = None,
        allow_partial: bool = False,
        allow_model_change: bool = False,
    ) -> dict[str, Any] | None:
        """With ``resume`` and a checkpoint in ``save_dir``: :meth:`resume` from it and return it.
        Otherwise :meth:`load_weights` from ``weights`` when it is set (a fresh start) and return
        ``None``. Stale temporary files of interrupted writes are removed first."""
        if self.save_to_disk:
            files.remove_stale_temp_files(self.save_dir)
        last = self.last_checkpoint() if resume else None
        if last:
            state = self.resume(last, allow_model_change=allow_model_change)
            self.resumed_from = last
            return state
        if weights:
            self.load_weights(weights, class_map=class_map, allow_partial=allow_partial)
        return None
