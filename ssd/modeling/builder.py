"""Assembles an :class:`SSDDetector` from a config: the only place that reads ``MODEL.*``."""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

from .anchors import (
    boxes_per_location,
    caffe_scales,
    default_boxes,
    linear_scales,
    multiple_grid_box_specs,
    multiple_grid_boxes,
)
from .backbone import build_backbone
from .box_coder import BoxCoder
from .detector import InputNormalizer, SSDDetector
from .head.box_head import PostprocessSettings, SSDBoxHead
from .loss import DetectionLoss
from .padding import use_tf_same_padding
from .postprocess import SCORE_ACTIVATIONS
from .registry import LOSSES, NECKS, PREDICTORS

logger = logging.getLogger(__name__)


@torch.no_grad()
def probe_feature_sizes(backbone: nn.Module, neck: nn.Module, image_size: int) -> list[tuple[int, int]]:
    """``(h, w)`` of every head level for a ``image_size`` square input, found by running the
    network once on zeros (in eval mode, so BatchNorm accepts 1x1 maps)."""
    was_training = backbone.training, neck.training
    backbone.eval()
    neck.eval()
    try:
        x = torch.zeros(1, 3, image_size, image_size)
        sizes = [tuple(f.shape[-2:]) for f in neck(backbone(x))]
    finally:
        backbone.train(was_training[0])
        neck.train(was_training[1])
    return sizes


def prior_sizes(cfg, num_levels: int) -> tuple[list[float], list[float]]:
    """Per-level ``(min_sizes, max_sizes)`` in input pixels from ``MODEL.PRIORS``: the explicit lists
    when given, else the Caffe rule (``FIRST_LEVEL_RATIO > 0``) or torchvision's linear rule."""
    p, size = cfg.MODEL.PRIORS, cfg.INPUT.IMAGE_SIZE
    if p.MIN_SIZES:
        return list(p.MIN_SIZES), list(p.MAX_SIZES)
    if p.FIRST_LEVEL_RATIO > 0:
        scales = caffe_scales(num_levels, p.MIN_RATIO, p.MAX_RATIO, p.FIRST_LEVEL_RATIO)
    else:
        scales = linear_scales(num_levels, p.MIN_RATIO, p.MAX_RATIO)
    return [s * size for s in scales[:-1]], [s * size for s in scales[1:]]


def multiple_grid_specs(cfg) -> list[list[tuple[float, float]]]:
    """``(scale, ratio)`` per box and level of ``MODEL.PRIORS.GENERATOR = "multiple_grid"``."""
    p = cfg.MODEL.PRIORS
    return multiple_grid_box_specs(
        num_levels=len(p.ASPECT_RATIOS),
        min_scale=p.MIN_RATIO,
        max_scale=p.MAX_RATIO,
        aspect_ratios=p.ASPECT_RATIOS,
        interpolated_scale_aspect_ratio=p.INTERPOLATED_SCALE_ASPECT_RATIO,
        reduce_boxes_in_lowest_layer=p.REDUCE_BOXES_IN_LOWEST_LAYER,
    )


def prior_boxes_per_location(cfg) -> list[int]:
    """Default boxes per cell on each level, as ``MODEL.PRIORS`` lays them out."""
    if cfg.MODEL.PRIORS.GENERATOR == "multiple_grid":
        return [len(level) for level in multiple_grid_specs(cfg)]
    return boxes_per_location(cfg.MODEL.PRIORS.ASPECT_RATIOS)


def build_priors(cfg, feature_sizes: list[tuple[int, int]]) -> Tensor:
    """Default boxes ``Tensor[P, 4]`` xyxy input pixels for the given feature-map sizes."""
    p, size = cfg.MODEL.PRIORS, cfg.INPUT.IMAGE_SIZE
    if p.GENERATOR == "multiple_grid":
        return multiple_grid_boxes(
            feature_sizes=feature_sizes, image_size=(size, size), box_specs=multiple_grid_specs(cfg)
        )
    min_sizes, max_sizes = prior_sizes(cfg, len(feature_sizes))
    return default_boxes(
        feature_sizes=feature_sizes,
        image_size=(size, size),
        min_sizes=min_sizes,
        max_sizes=max_sizes,
        aspect_ratios=p.ASPECT_RATIOS,
        steps=list(p.STRIDES) or None,
        clip=p.CLIP,
        offset=p.OFFSET,
    )


def build_loss(cfg) -> DetectionLoss:
    """The registered loss ``MODEL.BOX_HEAD.LOSS``, checked to be a :class:`DetectionLoss` whose
    declared score activation postprocess knows, so the predictor and postprocess can rely on it."""
    name = cfg.MODEL.BOX_HEAD.LOSS
    loss = LOSSES.get(name)(cfg)
    if not isinstance(loss, DetectionLoss):
        raise ValueError(
            f"MODEL.BOX_HEAD.LOSS = {name!r}: its builder returned a {type(loss).__name__}, not a "
            "ssd.modeling.loss.DetectionLoss (which declares score_activation and cls_bias_prior)"
        )
    if loss.score_activation not in SCORE_ACTIVATIONS:
        raise ValueError(
            f"MODEL.BOX_HEAD.LOSS = {name!r} declares score_activation = {loss.score_activation!r}; "
            f"postprocess knows {list(SCORE_ACTIVATIONS)}"
        )
    return loss


def build_model(cfg, *, num_classes: int | None = None) -> SSDDetector:
    """Build the detector described by ``cfg``.

    ``num_classes`` (background included) overrides ``MODEL.NUM_CLASSES``; it is required when the
    config says 0 ("derive from the dataset"). Raises ``ValueError`` when the backbone + neck
    produce a different number of levels than ``MODEL.PRIORS`` describes.
    """
    num_classes = num_classes or cfg.MODEL.NUM_CLASSES
    if num_classes < 2:
        raise ValueError(
            f"MODEL.NUM_CLASSES = {cfg.MODEL.NUM_CLASSES}: pass the dataset's class count "
            "(background included) to build_model when the config leaves it to the dataset"
        )
    backbone = build_backbone(cfg)
    neck = NECKS.get(cfg.MODEL.NECK.NAME)(cfg, list(backbone.out_channels))
    if backbone.neck_input_only != getattr(neck, "neck_input_only", False):
        raise ValueError(
            f"{cfg.MODEL.BACKBONE.NAME} neck_input_only = {backbone.neck_input_only} (its last map feeds the neck "
            f"only) but {cfg.MODEL.NECK.NAME} neck_input_only = {getattr(neck, 'neck_input_only', False)}: "
            "MODEL.BACKBONE.LAST_TAP before_linear goes with MODEL.NECK.NAME sandglass_extras"
        )
    aspect_ratios = cfg.MODEL.PRIORS.ASPECT_RATIOS
    if len(neck.out_channels) != len(aspect_ratios):
        raise ValueError(
            f"{cfg.MODEL.BACKBONE.NAME} + {cfg.MODEL.NECK.NAME} produce {len(neck.out_channels)} feature "
            f"maps (channels {neck.out_channels}) but MODEL.PRIORS.ASPECT_RATIOS describes "
            f"{len(aspect_ratios)} levels"
        )
    for part, module in (("BACKBONE", backbone), ("NECK", neck)):
        if cfg.MODEL[part].PADDING == "tf_same":
            logger.info("MODEL.%s.PADDING: TF SAME padding in %d strided convs", part, use_tf_same_padding(module))
    size = cfg.INPUT.IMAGE_SIZE
    feature_sizes = probe_feature_sizes(backbone, neck, size)
    if any(h < 1 or w < 1 for h, w in feature_sizes):
        raise ValueError(f"INPUT.IMAGE_SIZE = {size} is too small: feature maps {feature_sizes}")
    priors = build_priors(cfg, feature_sizes)

    loss = build_loss(cfg)
    predictor = PREDICTORS.get(cfg.MODEL.BOX_HEAD.PREDICTOR)(
        cfg,
        in_channels=neck.out_channels,
        boxes_per_location=prior_boxes_per_location(cfg),
        num_classes=num_classes,
        cls_bias_prior=loss.cls_bias_prior,
    )
    box_head = SSDBoxHead(
        predictor=predictor,
        priors=priors,
        image_size=(size, size),
        loss=loss,
        box_coder=BoxCoder(cfg.MODEL.CENTER_VARIANCE, cfg.MODEL.SIZE_VARIANCE, cfg.MODEL.BOX_ORDER),
        iou_threshold=cfg.MODEL.THRESHOLD,
        matcher=cfg.MODEL.MATCHER,
        postprocess=PostprocessSettings(
            score_threshold=cfg.TEST.CONFIDENCE_THRESHOLD,
            nms_threshold=cfg.TEST.NMS_THRESHOLD,
            topk_candidates=cfg.TEST.TOPK_CANDIDATES,
            max_detections=cfg.TEST.MAX_PER_IMAGE,
            activation=loss.score_activation,
            clip_boxes=cfg.TEST.CLIP_BOXES,
            clip_after_nms=cfg.TEST.CLIP_AFTER_NMS,
        ),
    )
    normalizer = InputNormalizer(
        mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD, pixel_range=cfg.INPUT.PIXEL_RANGE
    )
    model = SSDDetector(normalizer=normalizer, backbone=backbone, neck=neck, box_head=box_head, image_size=size)
    logger.info(
        "built %s + %s + %s predictor: %d classes, feature maps %s, %d default boxes; %s loss "
        "(%s scores), %s matching at IoU %g",
        cfg.MODEL.BACKBONE.NAME, cfg.MODEL.NECK.NAME, cfg.MODEL.BOX_HEAD.PREDICTOR,
        num_classes, feature_sizes, priors.shape[0], cfg.MODEL.BOX_HEAD.LOSS, loss.score_activation,
        cfg.MODEL.MATCHER, cfg.MODEL.THRESHOLD,
    )
    return model
