"""The allowed values of the config's string choices, declared once.

:func:`ssd.config.validate_config` checks every loaded config against :data:`CHOICES`, and the
module that implements each choice imports its tuple from here (the owner is named beside each),
so neither side keeps a copy and ``config`` imports nothing from the floors above it. Choices made
through a registry (backbones, necks, heads, losses, dataset formats, ``INPUT.AUGMENTATION``) are
not listed: a registry is its own list, checked by its builder.
"""

from __future__ import annotations

CLIP_MODES = ("none", "wh", "cxcywh", "xyxy")  # ssd.modeling.anchors
BACKBONE_VARIANTS = ("paper", "lufficc", "houqb")  # ssd.modeling.backbone.mobilenet_v2, .mobilenext
LAST_TAPS = ("output", "before_linear")  # ssd.modeling.backbone.mobilenext
BACKBONE_INITS = ("default", "normal")  # ssd.modeling.backbone.build
LOSS_NORMALISATIONS = ("batch", "image")  # ssd.modeling.loss
INIT_MODES = ("xavier", "normal")  # ssd.modeling.init
MATCHERS = ("bipartite", "argmax")  # ssd.modeling.matcher
LR_SCHEDULES = ("multistep", "cosine")  # ssd.solver.lr_scheduler
OPTIMIZERS = ("sgd", "adamw")  # ssd.solver.build
AMP_MODES = ("off", "fp16", "bf16")  # ssd.engine.precision
CHANNELS_LAST_MODES = ("auto", "on", "off")  # ssd.engine.precision
EVALUATORS = ("auto", "voc", "coco")  # ssd.evaluation.build
VOC_METRICS = ("voc07_11point", "voc_area")  # ssd.evaluation.voc
COCO_BACKENDS = ("faster_coco_eval", "pycocotools")  # ssd.evaluation.coco
PRIOR_GENERATORS = ("ssd", "multiple_grid")  # ssd.modeling.builder (anchors.py: default_boxes, multiple_grid_boxes)
PADDING_MODES = ("symmetric", "tf_same")  # ssd.modeling.padding
NECK_ACTIVATIONS = ("relu", "relu6")  # ssd.modeling.neck.extras
BOX_ORDERS = ("xywh", "yxhw")  # ssd.modeling.box_coder
RESIZE_MODES = ("opencv", "tf_bilinear")  # ssd.data.transforms.resize

# config key -> its allowed values
CHOICES: dict[str, tuple[str, ...]] = {
    "MODEL.PRIORS.CLIP": CLIP_MODES,
    "MODEL.PRIORS.GENERATOR": PRIOR_GENERATORS,
    "MODEL.BACKBONE.PADDING": PADDING_MODES,
    "MODEL.NECK.PADDING": PADDING_MODES,
    "MODEL.NECK.ACTIVATION": NECK_ACTIVATIONS,
    "MODEL.BOX_ORDER": BOX_ORDERS,
    "INPUT.RESIZE_MODE": RESIZE_MODES,
    "MODEL.BACKBONE.VARIANT": BACKBONE_VARIANTS,
    "MODEL.BACKBONE.LAST_TAP": LAST_TAPS,
    "MODEL.BACKBONE.INIT": BACKBONE_INITS,
    "MODEL.LOSS_NORMALISATION": LOSS_NORMALISATIONS,
    "MODEL.INIT": INIT_MODES,
    "MODEL.MATCHER": MATCHERS,
    "SOLVER.LR_SCHEDULER": LR_SCHEDULES,
    "SOLVER.OPTIMIZER": OPTIMIZERS,
    "SOLVER.AMP": AMP_MODES,
    "SOLVER.CHANNELS_LAST": CHANNELS_LAST_MODES,
    "TEST.EVALUATOR": EVALUATORS,
    "TEST.VOC_METRIC": VOC_METRICS,
    "TEST.COCO_BACKEND": COCO_BACKENDS,
}
