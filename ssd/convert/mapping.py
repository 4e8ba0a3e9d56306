"""Renaming a foreign state dict onto this framework's parameter names, with a full account of
what could not be placed. Pure functions over ``dict[str, Tensor]``; nothing here builds a model."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from torch import Tensor

# ``rename(source_key) -> target_key``, or ``None`` when the key has no place in this framework.
Rename = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Conversion:
    """The result of :func:`remap_state_dict`.

    ``state_dict`` holds only tensors that found a target of the right shape. ``unplaced`` lists the
    source keys that did not (no rule, no such target, or a shape mismatch, each with the reason);
    ``missing`` the target keys that nothing filled.
    """

    state_dict: dict[str, Tensor]
    unplaced: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.unplaced and not self.missing

    def describe(self) -> str:
        """A human-readable account of every key that could not be placed or filled."""
        lines = [f"placed {len(self.state_dict)} tensors"]
        if self.unplaced:
            lines.append(f"{len(self.unplaced)} source keys could not be placed:")
            lines += [f"  {k}: {why}" for k, why in self.unplaced.items()]
        if self.missing:
            lines.append(f"{len(self.missing)} model keys were not filled:")
            lines += [f"  {k}" for k in self.missing]
        return "\n".join(lines)


def remap_state_dict(
    source: Mapping[str, Tensor], *, rename: Rename, target_shapes: Mapping[str, tuple[int, ...]]
) -> Conversion:
    """Rename every tensor of ``source`` with ``rename`` and check it against ``target_shapes``
    (the target model's ``{key: shape}``). Two source keys renamed to one target is an error: the
    rules would be ambiguous, so it raises ``ValueError`` naming both."""
    placed: dict[str, Tensor] = {}
    origin: dict[str, str] = {}
    unplaced: dict[str, str] = {}
    for key, value in source.items():
        target = rename(key)
        if target is None:
            unplaced[key] = "no rule maps this key"
        elif target not in target_shapes:
            unplaced[key] = f"mapped to {target}, which the model does not have"
        elif tuple(value.shape) != tuple(target_shapes[target]):
            unplaced[key] = (
                f"mapped to {target}: shape {tuple(value.shape)} != model's {tuple(target_shapes[target])}"
            )
        elif target in placed:
            raise ValueError(f"{origin[target]} and {key} both map to {target}")
        else:
            placed[target] = value
            origin[target] = key
    missing = [k for k in target_shapes if k not in placed]
    return Conversion(state_dict=placed, unplaced=unplaced, missing=missing)
