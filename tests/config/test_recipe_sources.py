"""Every config that cites a source pins the values it takes from that source (the matcher-per-source
test in tests/modeling/test_matcher.py is the pattern): a change to one of them must come with a
change here, next to the source it contradicts. Values as worked out in each config's header."""

import glob
import os

import pytest

from ssd.config import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CAFFE_VGG = {"MODEL.MATCHER": "bipartite", "SOLVER.MOMENTUM": 0.9, "SOLVER.WEIGHT_DECAY": 0.0005,
             "SOLVER.WARMUP_ITERS": 0, "SOLVER.BIAS_LR_FACTOR": 2.0, "SOLVER.NO_DECAY_BIAS": True,
             "INPUT.AUGMENTATION": "caffe", "INPUT.RANDOM_INTERPOLATION": True,
             "MODEL.BACKBONE.WEIGHTS": "https://s3.amazonaws.com/amdegroot-models/vgg16_reducedfc.pth"}
# houqb/ssdlite-pytorch-mobilenext train.py on its README's 8 GPUs (SOLVER.BATCH_SIZE 32 per GPU)
HOUQB_COCO = {"SOLVER.BATCH_SIZE": 256, "SOLVER.LR": 0.08, "SOLVER.MAX_ITER": 200000, "MODEL.SYNC_BN": True,
              "SOLVER.WARMUP_ITERS": 500, "SOLVER.WEIGHT_DECAY": 0.00004, "SOLVER.LR_SCHEDULER": "cosine",
              "INPUT.AUGMENTATION": "lufficc", "MODEL.BOX_HEAD.LOSS": "focal", "MODEL.FOCAL_CLS_WEIGHT": 5.0,
              "MODEL.BOX_HEAD.CLS_INIT_STD": 0.01, "TEST.CONFIDENCE_THRESHOLD": 0.05, "TEST.NMS_THRESHOLD": 0.5}
HOUQB_MNEXT = {"MODEL.BACKBONE.VARIANT": "houqb", "MODEL.BACKBONE.WEIGHTS": "weights/mnext.pth.tar",
               "MODEL.NORM_EPS": 1e-5, "MODEL.NORM_MOMENTUM": 0.1}
TORCHVISION_SSDLITE = {"SOLVER.BATCH_SIZE": 192, "SOLVER.LR": 0.15, "SOLVER.MAX_ITER": 403260,
                       "SOLVER.LR_SCHEDULER": "cosine", "SOLVER.WEIGHT_DECAY": 0.00004, "INPUT.AUGMENTATION": "ssdlite",
                       "MODEL.NORM_EPS": 0.001, "MODEL.NORM_MOMENTUM": 0.03, "MODEL.INIT": "normal",
                       "TEST.CONFIDENCE_THRESHOLD": 0.001, "TEST.NMS_THRESHOLD": 0.55, "TEST.MAX_PER_IMAGE": 300}
LUFFICC_VOC = {"SOLVER.MAX_ITER": 120000, "SOLVER.LR_STEPS": [80000, 100000], "SOLVER.BATCH_SIZE": 32,
               "SOLVER.LR": 0.001, "SOLVER.WARMUP_ITERS": 500, "INPUT.AUGMENTATION": "lufficc",
               "DATASETS.KEEP_DIFFICULT": False}
LUFFICC_MNV2_PRIORS = {"MODEL.PRIORS.STRIDES": [16, 32, 64, 107, 160, 320],  # "fix #137", the _v2 checkpoint
                       "MODEL.PRIORS.MIN_SIZES": [60, 105, 150, 195, 240, 285],
                       "MODEL.PRIORS.MAX_SIZES": [105, 150, 195, 240, 285, 330]}
LUFFICC_TEST = {"TEST.CONFIDENCE_THRESHOLD": 0.01, "TEST.NMS_THRESHOLD": 0.45, "TEST.MAX_PER_IMAGE": 100,
                "TEST.CLIP_BOXES": False}

SOURCES = {
    # weiliu89/caffe ssd_pascal.py, ssd_coco.py, ssd_pascal_512.py (+ model_libs.py for the bias params)
    "ssd300_vgg16_voc0712.yaml": {**CAFFE_VGG, "SOLVER.MAX_ITER": 120000, "SOLVER.LR_STEPS": [80000, 100000],
                                  "SOLVER.BATCH_SIZE": 32, "SOLVER.LR": 0.001, "DATASETS.KEEP_DIFFICULT": True},
    "ssd300_vgg16_coco.yaml": {**CAFFE_VGG, "SOLVER.MAX_ITER": 400000, "SOLVER.LR_STEPS": [280000, 360000],
                               "SOLVER.BATCH_SIZE": 32, "SOLVER.LR": 0.001},
    "ssd512_vgg16_voc0712.yaml": {**CAFFE_VGG, "SOLVER.MAX_ITER": 120000, "SOLVER.LR_STEPS": [80000, 100000],
                                  "SOLVER.BATCH_SIZE": 24, "SOLVER.LR": 0.001},
    # ssd_coco.py's 300 schedule (unverified at 512; the released weights are the 360k snapshot)
    "ssd512_vgg16_coco.yaml": {**CAFFE_VGG, "SOLVER.MAX_ITER": 400000, "SOLVER.LR_STEPS": [280000, 360000],
                               "SOLVER.BATCH_SIZE": 24, "SOLVER.LR": 0.001},
    # NVIDIA DeepLearningExamples SSD main.py defaults on 8 GPUs, its per-image loss normalisation
    "ssd300_resnet50_coco.yaml": {"SOLVER.BATCH_SIZE": 256, "SOLVER.LR": 0.0208, "SOLVER.MAX_ITER": 29770,
                                  "SOLVER.LR_STEPS": [19694, 24732], "SOLVER.WARMUP_ITERS": 300,
                                  "SOLVER.NO_DECAY_NORM_BIAS": True, "MODEL.LOSS_NORMALISATION": "image",
                                  "MODEL.MATCHER": "argmax", "TEST.CONFIDENCE_THRESHOLD": 0.05,
                                  "TEST.NMS_THRESHOLD": 0.5},
    "ssd300_resnet50_voc0712.yaml": {"MODEL.LOSS_NORMALISATION": "image", "MODEL.MATCHER": "argmax"},
    # lufficc/SSD configs
    "ssd300_effb3_voc0712.yaml": {"SOLVER.MAX_ITER": 160000, "SOLVER.LR_STEPS": [105000, 135000],
                                  "SOLVER.BATCH_SIZE": 24, "SOLVER.LR": 0.001, "INPUT.AUGMENTATION": "lufficc"},
    "ssd300_effb3_coco.yaml": {"SOLVER.MAX_ITER": 400000, "SOLVER.LR_STEPS": [280000, 360000],
                               "SOLVER.BATCH_SIZE": 32, "SOLVER.LR": 0.001, "INPUT.AUGMENTATION": "lufficc"},
    "ssdlite320_mnv2lufficc_voc0712.yaml": {**LUFFICC_VOC, **LUFFICC_MNV2_PRIORS,
                                            "MODEL.BACKBONE.VARIANT": "lufficc"},
    "ssdlite320_mnv2_voc0712.yaml": LUFFICC_VOC,
    "ssdlite320_mnv3small_voc0712.yaml": LUFFICC_VOC,
    # houqb/ssdlite-pytorch-mobilenext
    "ssdlite320_mnext_coco.yaml": {**HOUQB_COCO, **HOUQB_MNEXT, "MODEL.BACKBONE.LAST_TAP": "before_linear",
                                   "MODEL.NECK.NAME": "sandglass_extras",
                                   "MODEL.NECK.OUT_CHANNELS": [512, 256, 256, 128],
                                   "MODEL.NECK.MID_CHANNELS": [256, 128, 128, 128]},
    "ssdlite320_mnext_fpn_coco.yaml": {**HOUQB_COCO, **HOUQB_MNEXT},
    "ssdlite320_mnv2_fpn_coco.yaml": {**HOUQB_COCO, "MODEL.PRIORS.MIN_SIZES": [45, 90, 135, 180, 270],
                                      "MODEL.PRIORS.MAX_SIZES": [90, 135, 180, 270, 315]},
    "ssdlite320_mnext_voc0712.yaml": {**HOUQB_MNEXT, "SOLVER.MAX_ITER": 240000, "SOLVER.LR_STEPS": [160000, 200000],
                                      "SOLVER.BATCH_SIZE": 24, "SOLVER.LR": 0.001, "INPUT.AUGMENTATION": "lufficc"},
    # torchvision's SSDLite320 recipe, from scratch with its N(0, 0.03) backbone init
    "ssdlite320_mnv3_coco.yaml": {**TORCHVISION_SSDLITE, "MODEL.BACKBONE.INIT": "normal",
                                  "MODEL.BACKBONE.REDUCED_TAIL": True, "MODEL.BACKBONE.WEIGHTS": ""},
    "ssdlite320_mnv3small_coco.yaml": {**TORCHVISION_SSDLITE, "MODEL.BACKBONE.INIT": "normal",
                                       "MODEL.BACKBONE.WEIGHTS": ""},
    "ssdlite320_mnv2_coco.yaml": {**TORCHVISION_SSDLITE,
                                  "MODEL.BACKBONE.WEIGHTS": "MobileNet_V2_Weights.IMAGENET1K_V1"},
    # converted checkpoints: their sources' inference settings
    "converted/ssdlite320_mnv2_voc0712_lufficc.yaml": {**LUFFICC_MNV2_PRIORS, **LUFFICC_TEST},
    "converted/ssd300_vgg16_voc0712_lufficc.yaml": {**LUFFICC_TEST, "MODEL.PRIORS.STRIDES": [8, 16, 32, 64, 100, 300]},
    "converted/ssd300_vgg16_coco_lufficc.yaml": {**LUFFICC_TEST, "MODEL.NUM_CLASSES": 81},
    "converted/ssd512_vgg16_voc0712_lufficc.yaml": {**LUFFICC_TEST,
                                                    "MODEL.PRIORS.STRIDES": [8, 16, 32, 64, 128, 256, 512]},
    "converted/ssd512_vgg16_coco_lufficc.yaml": {**LUFFICC_TEST, "MODEL.NUM_CLASSES": 81},
    "converted/ssd300_vgg16_coco_torchvision.yaml": {"MODEL.NUM_CLASSES": 91},
    "converted/ssdlite320_mnv3_coco_torchvision.yaml": {"TEST.CONFIDENCE_THRESHOLD": 0.001,
                                                        "TEST.NMS_THRESHOLD": 0.55, "TEST.MAX_PER_IMAGE": 300},
    # the TF object-detection API's pedestrian SSDLite (frozen_inference_graph.pb's constants)
    "converted/ssdlite300_mnv2_tf_pedestrian.yaml": {
        "MODEL.NUM_CLASSES": 2, "MODEL.BOX_ORDER": "yxhw", "MODEL.PRIORS.GENERATOR": "multiple_grid",
        "MODEL.PRIORS.MIN_RATIO": 0.2, "MODEL.PRIORS.MAX_RATIO": 0.95,
        "MODEL.PRIORS.REDUCE_BOXES_IN_LOWEST_LAYER": True, "MODEL.BACKBONE.PADDING": "tf_same",
        "INPUT.IMAGE_SIZE": 300, "INPUT.PIXEL_MEAN": [127.5, 127.5, 127.5], "INPUT.PIXEL_STD": [127.5, 127.5, 127.5],
        "TEST.CONFIDENCE_THRESHOLD": 1e-8, "TEST.NMS_THRESHOLD": 0.6, "TEST.MAX_PER_IMAGE": 100},
    # the quickstart fine-tunes the converted pedestrian model: its architecture must stay TF's
    "quickstart_ssdlite300_mnv2_tf.yaml": {
        "MODEL.BOX_ORDER": "yxhw", "MODEL.PRIORS.GENERATOR": "multiple_grid", "MODEL.BACKBONE.PADDING": "tf_same",
        "MODEL.NECK.PADDING": "tf_same", "INPUT.IMAGE_SIZE": 300, "INPUT.PIXEL_MEAN": [127.5, 127.5, 127.5],
        "MODEL.WEIGHTS": "outputs/pretrained/ssdlite300_mnv2_tf_pedestrian.pth", "INPUT.RESIZE_MODE": "opencv"},
}
# configs that cite no external recipe
NO_SOURCE = {"quickstart_ssdlite320_mnv3.yaml"}


def _get(cfg, dotted):
    for part in dotted.split("."):
        cfg = cfg[part]
    return list(cfg) if isinstance(cfg, (list, tuple)) else cfg


def test_every_config_is_pinned_or_cites_nothing():
    paths = glob.glob(os.path.join(ROOT, "configs", "*.yaml")) + glob.glob(
        os.path.join(ROOT, "configs", "converted", "*.yaml"))
    names = {os.path.relpath(p, os.path.join(ROOT, "configs")) for p in paths}
    assert names == set(SOURCES) | NO_SOURCE


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_config_keeps_its_sources_values(name):
    cfg = load_config(os.path.join(ROOT, "configs", name))
    actual = {key: _get(cfg, key) for key in SOURCES[name]}
    assert actual == SOURCES[name]
