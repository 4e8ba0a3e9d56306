"""Batch collation: images stacked, targets and infos kept per image."""

from __future__ import annotations

import torch


def collate_detection(batch: list[tuple[torch.Tensor, dict, dict]]):
    """``[(image Tensor[3, S, S], target, info), ...]`` -> ``(images Tensor[B, 3, S, S], targets, infos)``.

    ``targets[i] = {"boxes": float32 Tensor[N_i, 4] xyxy (input pixels), "labels": int64 Tensor[N_i]}``;
    ``infos[i] = {"index", "image_id", "file_name", "height", "width"}`` (original image size).
    """
    images = torch.stack([item[0] for item in batch])
    targets = [item[1] for item in batch]
    infos = [item[2] for item in batch]
    return images, targets, infos
