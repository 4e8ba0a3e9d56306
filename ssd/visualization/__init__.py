"""Pictures of detections and runs: annotated images (:mod:`.draw`), evaluation and training
plots (:mod:`.plots`, matplotlib imported only there)."""

from .draw import PALETTE, class_colour, draw_detections, line_width

__all__ = ["PALETTE", "class_colour", "draw_detections", "line_width"]
