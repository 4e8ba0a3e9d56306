"""Carry a trained detector's weights over to another class list (fine-tuning on your own classes).

Every tensor whose name and shape match loads unchanged. The per-class tensors (each level's last
class conv, output channel ``a * K + k`` = class ``k`` of box ``a``, as the predictor declares them
with ``per_class_parameters()``) are rebuilt: column 0 (background) and every class that both lists
name (or that ``class_map`` maps, ``{target name: source name}``) take the source's rows at their
new positions; the other classes keep the target model's fresh initialisation (for a sigmoid /
focal head, biases at the loss's prior: the target model was built with it).

Source names that occur more than once (torchvision's COCO layout repeats "N/A" for the category
ids COCO does not use) name no class and are never carried.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor


@dataclass
class TransferReport:
    """What :func:`transfer_class_weights` did.

    ``loaded``: target tensors filled unchanged from the source; ``rebuilt``: per-class tensors
    rebuilt row by row; ``carried``: ``(target class, source class)`` pairs whose rows came from the
    source (background included); ``fresh``: target classes left at their fresh initialisation;
    ``mismatched``: target tensors the source cannot fill (missing, or another shape), with why;
    ``unused``: source tensors the target has no place for.
    """

    loaded: list[str] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)
    carried: list[tuple[str, str]] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)
    mismatched: dict[str, str] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["carried"] = [{"class": t, "from": s} for t, s in self.carried]
        return data

    def table(self, *, source: str) -> str:
        """The log table: counts, then which class rows came from where."""
        rows = [
            f"weights from {source}:",
            f"  tensors loaded unchanged   {len(self.loaded)}",
            f"  per-class tensors rebuilt  {len(self.rebuilt)}",
            f"  class rows carried over    {len(self.carried)}: "
            + ", ".join(t if t == s else f"{t} <- {s}" for t, s in self.carried),
            f"  class rows initialised     {len(self.fresh)}" + (": " + ", ".join(self.fresh) if self.fresh else ""),
            f"  tensors not loaded         {len(self.mismatched)}"
            + "".join(f"\n    {k}: {why}" for k, why in list(self.mismatched.items())[:10]),
            f"  source tensors unused      {len(self.unused)}"
            + (": " + ", ".join(self.unused[:5]) if self.unused else ""),
        ]
        return "\n".join(rows)


def class_correspondence(
    source_names: Sequence[str], target_names: Sequence[str], class_map: Mapping[str, str] | None = None
) -> dict[int, int]:
    """``{target column: source column}`` for the columns that carry over; column 0 (background)
    always, class ``names[i]`` is column ``i + 1`` (names exclude background).

    A target class takes the source class of the same name, or ``class_map[target name]``. Raises
    ``ValueError`` when ``class_map`` names a class that is not in its list.
    """
    class_map = dict(class_map or {})
    unknown_new = sorted(set(class_map) - set(target_names))
    if unknown_new:
        raise ValueError(f"MODEL.WEIGHTS_CLASS_MAP maps {unknown_new}, not in this run's classes {list(target_names)}")
    counts = Counter(source_names)
    unknown_old = sorted({s for s in class_map.values() if counts[s] != 1})
    if unknown_old:
        raise ValueError(f"MODEL.WEIGHTS_CLASS_MAP maps to {unknown_old}, not (once) in the checkpoint's classes "
                         f"{list(source_names)}")
    source_column = {n: i + 1 for i, n in enumerate(source_names) if counts[n] == 1}
    columns = {0: 0}
    for i, name in enumerate(target_names):
        source = class_map.get(name, name)
        if source in source_column:
            columns[i + 1] = source_column[source]
    return columns


def _rebuild(source: Tensor, fresh: Tensor, *, boxes: int, columns: Mapping[int, int]) -> Tensor | str:
    """``fresh`` (``Tensor[a*Kt, ...]``) with the rows of ``source`` (``Tensor[a*Ks, ...]``) at the
    target columns of ``columns``; a string saying why not when the shapes do not allow it."""
    if source.shape[1:] != fresh.shape[1:] or source.shape[0] % boxes or fresh.shape[0] % boxes:
        return f"checkpoint {list(source.shape)} vs model {list(fresh.shape)} (per class, {boxes} boxes per cell)"
    k_source, k_target = source.shape[0] // boxes, fresh.shape[0] // boxes
    if max(columns.values()) >= k_source or max(columns) >= k_target:
        return f"checkpoint has {k_source} classes per box, fewer than the class lists need"
    out = fresh.detach().clone().reshape(boxes, k_target, *fresh.shape[1:])
    src = source.detach().to(fresh.dtype).reshape(boxes, k_source, *source.shape[1:])
    target_idx = torch.tensor(sorted(columns))
    out[:, target_idx] = src[:, torch.tensor([columns[t] for t in sorted(columns)])]
    return out.reshape(fresh.shape)


def transfer_class_weights(
    source_state: Mapping[str, Tensor],
    *,
    source_names: Sequence[str],
    target_state: Mapping[str, Tensor],
    target_names: Sequence[str],
    per_class: Mapping[str, int],
    class_map: Mapping[str, str] | None = None,
) -> tuple[dict[str, Tensor], TransferReport]:
    """The target model's state dict filled from ``source_state``, and what was done.

    Args:
        source_state: the checkpoint's model state dict (EMA weights when it has them).
        source_names / target_names: class names without background (label ``l`` = ``names[l-1]``).
        target_state: the freshly built target model's state dict (its initialisation is what
            new classes and unfillable tensors keep).
        per_class: ``{name: boxes per location}`` of the target's per-class tensors
            (``SSDDetector.per_class_parameters()``).
        class_map: ``{target name: source name}`` for renamed classes.
    Returns:
        ``(state, report)``: ``state`` has every key of ``target_state``; the tensors listed in
        ``report.mismatched`` keep their fresh values (the caller decides whether that is allowed).
    """
    columns = class_correspondence(source_names, target_names, class_map)
    report = TransferReport()
    state: dict[str, Tensor] = {}
    for name, fresh in target_state.items():
        src = source_state.get(name)
        if src is None:
            report.mismatched[name] = "missing from the checkpoint"
            state[name] = fresh
        elif name in per_class:
            rebuilt = _rebuild(src, fresh, boxes=per_class[name], columns=columns)
            if isinstance(rebuilt, str):
                report.mismatched[name] = rebuilt
                state[name] = fresh
            else:
                report.rebuilt.append(name)
                state[name] = rebuilt
        elif tuple(src.shape) != tuple(fresh.shape):
            report.mismatched[name] = f"checkpoint {list(src.shape)} vs model {list(fresh.shape)}"
            state[name] = fresh
        else:
            report.loaded.append(name)
            state[name] = src
    report.unused = [k for k in source_state if k not in target_state]
    names = ["__background__", *target_names]
    source_all = ["__background__", *source_names]
    report.carried = [(names[t], source_all[s]) for t, s in sorted(columns.items())]
    report.fresh = [names[t] for t in range(1, len(names)) if t not in columns]
    return state, report
