"""Every configuration key, with its default and a one-line meaning.

Key names follow lufficc/SSD wherever the concept is the same, so its users feel at home.
Call :func:`ssd.config.get_cfg` for a fresh, mutable copy; never mutate ``_C``.
Box convention everywhere: xyxy, absolute pixels, float32; label 0 is background.
"""

from yacs.config import CfgNode as CN

_C = CN()
_C._BASE_ = ""  # path (relative to this file) of a config this one inherits from; may be a list

# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------
_C.MODEL = CN()
_C.MODEL.DEVICE = "auto"  # "auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:1", ...
_C.MODEL.NUM_CLASSES = 21  # classes including background; 0 = derive from the training dataset
_C.MODEL.SYNC_BN = False  # convert BatchNorm to SyncBatchNorm when distributed on CUDA
_C.MODEL.WEIGHTS = ""  # full-detector checkpoint to start from (path or URL); "" = none
# Fine-tuning from MODEL.WEIGHTS on other classes: tensors of equal name and shape load unchanged; the
# class convs keep background and every class both lists name (rows moved to their new positions),
# new classes start fresh (the loss's prior bias). OUTPUT_DIR/weights_transfer.json says what came over.
_C.MODEL.WEIGHTS_CLASS_MAP = CN(new_allowed=True)  # {this run's class: checkpoint's class}, e.g. {pedestrian: person}
_C.MODEL.WEIGHTS_ALLOW_PARTIAL = False  # load the MODEL.WEIGHTS tensors that fit, the rest fresh (else an error)
# Whole-model settings, read by the backbone, neck and predictor builders alike
# (formerly MODEL.BACKBONE.NORM_EPS / NORM_MOMENTUM and MODEL.BOX_HEAD.INIT: deprecated aliases).
_C.MODEL.NORM_EPS = 1e-5  # BatchNorm eps everywhere in the model (SSDLite, EfficientNet: 1e-3)
_C.MODEL.NORM_MOMENTUM = 0.1  # BatchNorm momentum everywhere in the model (SSDLite: 0.03)
_C.MODEL.INIT = "xavier"  # init of layers added to the backbone: "xavier" (paper / Caffe) or "normal" (N(0, 0.03))

_C.MODEL.BACKBONE = CN()
_C.MODEL.BACKBONE.NAME = "vgg16"  # a name in ssd.modeling.BACKBONES
_C.MODEL.BACKBONE.WEIGHTS = ""  # pretrained: torchvision weights name (VGG16_Weights.IMAGENET1K_V1), URL or path
_C.MODEL.BACKBONE.WIDTH_MULT = 1.0  # channel width multiplier (MobileNet family)
_C.MODEL.BACKBONE.REDUCED_TAIL = False  # MobileNetV3: halve the channels of the last stage (paper §6.3)
_C.MODEL.BACKBONE.VARIANT = "paper"  # "paper" or a reference implementation's form, e.g. "lufficc", "houqb"
# MobileNeXt's stride-32 head map: "output" (the network's end) or "before_linear" (houqb: before the
# last block's final linear depthwise conv; the extra layers then start from the output)
_C.MODEL.BACKBONE.LAST_TAP = "output"  # "output" or "before_linear" (see above)
# A recipe that starts from ImageNet weights: tools/train.py refuses a long run (over
# ssd.engine.preflight.LONG_RUN_ITERS iterations) with MODEL.BACKBONE.WEIGHTS empty unless FROM_SCRATCH
_C.MODEL.BACKBONE.WEIGHTS_REQUIRED = False  # the config's recipe needs backbone weights (see above)
_C.MODEL.BACKBONE.FROM_SCRATCH = False  # training the backbone from random weights is intended
_C.MODEL.BACKBONE.OUT_STRIDES = []  # strides of the maps returned ([8, 16, 32] for an FPN); [] = default
# How the backbone's strided "same" convs pad: "symmetric" (PyTorch, Caffe: (k-1)/2 each side) or "tf_same"
# (TensorFlow's SAME: only what is needed, the odd pixel at the bottom / right: TF object-detection API
# weights; lufficc's EfficientNet, whose extra layers are symmetric). Stride-1 and padding-0 convs are the
# same in both (ssd/modeling/padding.py).
_C.MODEL.BACKBONE.PADDING = "symmetric"  # "symmetric" or "tf_same" (see above)
# backbone init before WEIGHTS load: "default" (the classifier's own, e.g. torchvision's Kaiming) or
# "normal": every conv N(0, 0.03), biases 0 (torchvision's SSDLite when it trains without ImageNet weights)
_C.MODEL.BACKBONE.INIT = "default"  # "default" or "normal" (see above)
_C.MODEL.BACKBONE.ALLOW_PARTIAL_WEIGHTS = False  # accept WEIGHTS that leave backbone tensors untrained (else an error)

_C.MODEL.NECK = CN()
# a name in NECKS: ssd_extras, ssdlite_extras, fpn, ssdlite_fpn, lufficc_mnv2_extras, sandglass_extras
_C.MODEL.NECK.NAME = "ssd_extras"  # a name in ssd.modeling.NECKS (see above)
_C.MODEL.NECK.OUT_CHANNELS = [512, 256, 256, 256]  # channels of each extra level (SSD300)
_C.MODEL.NECK.MID_CHANNELS = [256, 128, 128, 128]  # 1x1 bottleneck channels per extra level; [] = half
_C.MODEL.NECK.STRIDES = [2, 2, 1, 1]  # stride of each extra level's spatial conv
_C.MODEL.NECK.PADDINGS = [1, 1, 0, 0]  # padding of each extra level's spatial conv
_C.MODEL.NECK.KERNEL_SIZES = [3, 3, 3, 3]  # kernel of each extra level's spatial conv (SSD512 ends in 4)
_C.MODEL.NECK.USE_BN = False  # BatchNorm in the SSD extra layers (the paper's VGG has none)
_C.MODEL.NECK.ACTIVATION = "relu"  # of the plain SSD extra layers: "relu" or "relu6" (TF API's ssd_mobilenet_v2)
_C.MODEL.NECK.PADDING = "symmetric"  # strided convs of the neck: "symmetric" or "tf_same" (as MODEL.BACKBONE.PADDING)
_C.MODEL.NECK.FPN_CHANNELS = 128  # FPN neck: channels of every pyramid level
_C.MODEL.NECK.FPN_NUM_EXTRA = 3  # FPN neck: stride-2 levels appended after the backbone's

_C.MODEL.PRIORS = CN()
# Per-level sizes in input pixels (Caffe / lufficc form). When empty they derive from the ratios.
_C.MODEL.PRIORS.MIN_SIZES = []  # s_k * image size per level
_C.MODEL.PRIORS.MAX_SIZES = []  # s_{k+1} * image size per level (the extra sqrt(s_k s_{k+1}) box)
_C.MODEL.PRIORS.MIN_RATIO = 0.2  # smallest scale s_min of the linear rule (paper eq. 4)
_C.MODEL.PRIORS.MAX_RATIO = 0.95  # largest scale s_max of the linear rule
_C.MODEL.PRIORS.FIRST_LEVEL_RATIO = 0.0  # >0: Caffe rule, level 0 gets this scale, the rest span min..max
_C.MODEL.PRIORS.STRIDES = []  # step per level in pixels (Caffe "steps"); [] = image size / map size
_C.MODEL.PRIORS.ASPECT_RATIOS = [[2], [2, 3], [2, 3], [2, 3], [2], [2]]  # r per level; 1/r added too
_C.MODEL.PRIORS.CLIP = "wh"  # "none", "wh" (torchvision), "cxcywh" (lufficc), "xyxy" (Caffe)
_C.MODEL.PRIORS.OFFSET = 0.5  # centre offset inside a cell, in cells
# "ssd": the keys above (Caffe / lufficc / torchvision). "multiple_grid": the TF object-detection API's
# create_ssd_anchors: scales linear MIN_RATIO..MAX_RATIO, one box per ratio of ASPECT_RATIOS[k] as given
# (1/r not added, 1 listed explicitly), then the interpolated-scale box; MIN/MAX_SIZES, STRIDES, CLIP,
# OFFSET unused (centres at cell centres, nothing clipped).
_C.MODEL.PRIORS.GENERATOR = "ssd"  # "ssd" or "multiple_grid" (see above)
_C.MODEL.PRIORS.INTERPOLATED_SCALE_ASPECT_RATIO = 1.0  # multiple_grid: ratio of the sqrt(s_k s_k+1) box; 0 = none
_C.MODEL.PRIORS.REDUCE_BOXES_IN_LOWEST_LAYER = False  # multiple_grid: level 0 = (0.1, 1), (s_0, 2), (s_0, 1/2)

_C.MODEL.BOX_HEAD = CN()
_C.MODEL.BOX_HEAD.PREDICTOR = "ssd"  # a name in ssd.modeling.PREDICTORS: ssd (3x3 conv), ssdlite, lufficc_ssdlite
_C.MODEL.BOX_HEAD.LOSS = "multibox"  # a name in ssd.modeling.LOSSES: multibox, focal
# >0: every conv of the class heads drawn from N(0, std) and every class-head bias at the loss's prior
# (houqb/ssdlite-pytorch-mobilenext with the focal loss: 0.01); 0: MODEL.INIT, prior bias on the last conv only
_C.MODEL.BOX_HEAD.CLS_INIT_STD = 0.0  # class-head init std (see above); 0 = follow MODEL.INIT

_C.MODEL.CENTER_VARIANCE = 0.1  # box coder variance of centres (torchvision weights 10, 10)
_C.MODEL.SIZE_VARIANCE = 0.2  # box coder variance of log sizes (torchvision weights 5, 5)
_C.MODEL.BOX_ORDER = "xywh"  # layout of the 4 regression values: "xywh" or "yxhw" (TF object-detection API)
_C.MODEL.THRESHOLD = 0.5  # IoU for a default box to match a ground truth (paper §2.2)
# how each ground truth gets its own prior (ssd/modeling/matcher.py): "bipartite" (Caffe's MatchBBox,
# each a distinct prior) or "argmax" (torchvision / lufficc / NVIDIA: its best prior, later ones win ties)
_C.MODEL.MATCHER = "argmax"  # "bipartite" or "argmax" (see above)
_C.MODEL.NEG_POS_RATIO = 3  # hard negatives per positive (paper §2.2)
# multibox loss divisor: "batch" (paper eq. 1: the batch's positives) or "image" (NVIDIA: each
# image by its own positives, then the mean over images)
_C.MODEL.LOSS_NORMALISATION = "batch"  # "batch" or "image" (see above)
_C.MODEL.MIN_NEGATIVES = 0  # negatives mined per image even with no positives (background-only images)
_C.MODEL.FOCAL_ALPHA = 0.25  # focal loss alpha (Lin et al. 2017)
_C.MODEL.FOCAL_GAMMA = 2.0  # focal loss gamma
_C.MODEL.FOCAL_PRIOR = 0.01  # focal loss: classification bias initialised to this foreground prior
_C.MODEL.FOCAL_CLS_WEIGHT = 1.0  # focal loss: weight of the classification term (houqb's recipe: 5)

# ---------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------
_C.INPUT = CN()
_C.INPUT.IMAGE_SIZE = 300  # square network input side in pixels
_C.INPUT.PIXEL_MEAN = [123.0, 117.0, 104.0]  # RGB mean subtracted inside the model
_C.INPUT.PIXEL_STD = [1.0, 1.0, 1.0]  # RGB std divided inside the model
_C.INPUT.PIXEL_RANGE = 255.0  # the range mean/std refer to: 255 (0-255 pixels) or 1.0 (0-1)
_C.INPUT.AUGMENTATION = "caffe"  # training pipeline: "caffe", "lufficc", "ssdlite"
# Caffe ssd_pascal.py resize_param.interp_mode: LINEAR, AREA, NEAREST, CUBIC, LANCZOS4 drawn uniformly;
# False = always bilinear (lufficc, torchvision).
_C.INPUT.RANDOM_INTERPOLATION = False  # draw the training resize interpolation at random (Caffe)
# Test-time resize to IMAGE_SIZE (evaluation, Predictor, demo, ONNX metadata): "opencv" = cv2.resize
# INTER_LINEAR to uint8; "tf_bilinear" = TF1 ResizeBilinear (align_corners=False, no half-pixel centres,
# float32 unrounded), as TF object-detection API graphs resize their input. Training keeps cv2.
_C.INPUT.RESIZE_MODE = "opencv"  # test-time resize: "opencv" or "tf_bilinear" (converted TF models)
_C.INPUT.SKIP_CORRUPT_IMAGES = False  # log and replace unreadable training images instead of raising

# ---------------------------------------------------------------------------------------------
# Datasets and loading
# ---------------------------------------------------------------------------------------------
_C.DATASETS = CN()
_C.DATASETS.TRAIN = ()  # dataset names (catalog) concatenated for training
_C.DATASETS.TEST = ()  # dataset names evaluated one by one
_C.DATASETS.ROOT = "datasets"  # data root for built-in names; VOC_ROOT / COCO_ROOT override
_C.DATASETS.CATALOG = CN(new_allowed=True)  # user-declared datasets: NAME: {FORMAT, ROOT, SPLIT, ...}
_C.DATASETS.CLASSES = []  # class names (no background) or a path to a text file; [] = dataset default
# Caffe ssd_pascal.py trains on them (use_difficult_gt: true); lufficc/SSD drops them in training
# (keep_difficult = not is_train). Evaluation always ignores them.
_C.DATASETS.KEEP_DIFFICULT = False  # VOC: keep difficult objects as training targets
_C.DATASETS.ALLOW_OUTSIDE_ROOT = False  # COCO: read a file_name that is absolute or climbs out of the image folder
_C.DATASETS.TRAIN_EMPTY_IMAGES = False  # COCO: train on images without annotations as background

_C.DATALOADER = CN()
_C.DATALOADER.NUM_WORKERS = 4  # loader processes per training process
_C.DATALOADER.PIN_MEMORY = True  # page-locked host memory (only used with CUDA)
_C.DATALOADER.PERSISTENT_WORKERS = True  # keep workers alive across evaluation passes

# ---------------------------------------------------------------------------------------------
# Solver
# ---------------------------------------------------------------------------------------------
_C.SOLVER = CN()
_C.SOLVER.MAX_ITER = 120000  # training iterations
_C.SOLVER.BATCH_SIZE = 32  # total images per iteration over all processes
_C.SOLVER.LR = 1e-3  # base learning rate at SOLVER.BATCH_SIZE
_C.SOLVER.SCALE_LR_WITH_WORLD = False  # multiply LR by world size (logged); BATCH_SIZE stays total
_C.SOLVER.SCALE_ITERS_WITH_WORLD = False  # divide MAX_ITER, LR_STEPS, WARMUP_ITERS, periods by world size (logged)
_C.SOLVER.OPTIMIZER = "sgd"  # "sgd" (the papers') or "adamw" (fast from-scratch CPU runs)
_C.SOLVER.MOMENTUM = 0.9  # SGD momentum
_C.SOLVER.WEIGHT_DECAY = 5e-4  # L2 weight decay
_C.SOLVER.NO_DECAY_NORM_BIAS = False  # no weight decay on normalisation and bias parameters
# Caffe SSD (model_libs.py): every conv bias at lr_mult 2, decay_mult 0 (SGD only)
_C.SOLVER.BIAS_LR_FACTOR = 1.0  # LR multiplier of conv / linear biases (Caffe: 2)
_C.SOLVER.NO_DECAY_BIAS = False  # no weight decay on conv / linear biases (Caffe: True)
_C.SOLVER.LR_SCHEDULER = "multistep"  # "multistep" or "cosine"
_C.SOLVER.LR_STEPS = [80000, 100000]  # multistep: iterations where LR is multiplied by GAMMA
_C.SOLVER.GAMMA = 0.1  # multistep decay factor
_C.SOLVER.WARMUP_ITERS = 500  # linear warmup length in iterations
_C.SOLVER.WARMUP_FACTOR = 1.0 / 3  # LR multiplier at iteration 0 of the warmup
_C.SOLVER.COSINE_FINAL_FACTOR = 0.0  # cosine: LR multiplier reached at MAX_ITER
_C.SOLVER.AMP = "off"  # mixed precision: "off", "fp16" (CUDA), "bf16" (CUDA, or a CPU with avx512_bf16 / amx_bf16)
_C.SOLVER.CHANNELS_LAST = "auto"  # NHWC training: "on", "off", "auto" (on where measured faster: CPU, CUDA + AMP)
_C.SOLVER.EMA_DECAY = 0.0  # EMA of the weights, used to evaluate and ship (e.g. 0.9998); 0 = off
_C.SOLVER.EMA_WARMUP = 2000  # EMA decay ramp d * (1 - exp(-step / EMA_WARMUP)) (YOLOX: 2000); 0 = none
_C.SOLVER.CLIP_GRAD_NORM = 0.0  # max gradient norm; 0 = no clipping
_C.SOLVER.CHECKPOINT_PERIOD = 2500  # iterations between checkpoints
_C.SOLVER.KEEP_CHECKPOINTS = 3  # newest checkpoints kept on disk
_C.SOLVER.EVAL_PERIOD = 0  # iterations between evaluations; 0 = only at the end
_C.SOLVER.LOG_PERIOD = 20  # iterations between log lines
_C.SOLVER.SKIP_NONFINITE = False  # skip steps with a non-finite loss (counted) instead of stopping
_C.SOLVER.RESUME_ALLOW_MODEL_CHANGE = False  # resume although model keys / classes differ from the checkpoint's

# ---------------------------------------------------------------------------------------------
# Test
# ---------------------------------------------------------------------------------------------
_C.TEST = CN()
_C.TEST.CONFIDENCE_THRESHOLD = 0.01  # minimum class score kept before NMS
_C.TEST.NMS_THRESHOLD = 0.45  # IoU above which NMS suppresses a box of the same class
_C.TEST.TOPK_CANDIDATES = 200  # best boxes per class kept before NMS (bounds postprocess cost)
_C.TEST.MAX_PER_IMAGE = 100  # detections kept per image after NMS
_C.TEST.CLIP_BOXES = True  # clip decoded boxes to the input before NMS (torchvision); lufficc: False
# TF object-detection API: NMS on the unclipped boxes, then the detections clipped (CLIP_BOXES must be False)
_C.TEST.CLIP_AFTER_NMS = False  # clip the detections after NMS instead (see above)
_C.TEST.BATCH_SIZE = 8  # images per inference batch per process
_C.TEST.VOC_METRIC = "voc07_11point"  # VOC evaluator: "voc07_11point" or "voc_area"
_C.TEST.EVALUATOR = "auto"  # "auto" (the dataset's own format), "voc" or "coco" (COCO metrics on any dataset)
_C.TEST.COCO_BACKEND = "faster_coco_eval"  # COCO metrics: "faster_coco_eval" (C++ COCOeval, ~10x) or "pycocotools"
_C.TEST.DEMO_SCORE_THRESHOLD = 0.5  # score from which a detection is shown: demo images, the confusion matrix

_C.SEED = 0  # random seed (python, numpy, torch); -1 = nondeterministic
_C.OUTPUT_DIR = "outputs"  # checkpoints, logs, TensorBoard events and inference results
