"""The optimizer: AdamW with no decay on biases and norms, and optional layer-wise learning-rate decay.

Layer-wise decay gives the classifier head the full learning rate and each encoder layer below it a factor
`decay` less, so the pretrained lower layers (general language) move less than the task-specific top; each
parameter group carries its `lr_scale`, which the loop multiplies into the scheduled rate at every step.
"""

from __future__ import annotations

import re
from typing import Any

import torch

_LAYER = re.compile(r"\.layers?\.(\d+)\.")


def layer_depth(name: str, num_layers: int) -> int:
    """How many layers below the top a parameter sits: 0 for the head, num_layers + 1 for the embeddings."""
    match = _LAYER.search(name)
    if match:
        return num_layers - int(match.group(1))
    if "embeddings" in name:
        return num_layers + 1
    return 0


def param_groups(model: Any, weight_decay: float, layer_decay: float = 1.0) -> list[dict[str, Any]]:
    """Parameter groups keyed by (decayed or not, depth), each with its weight decay and lr_scale."""
    num_layers = int(getattr(getattr(model, "config", None), "num_hidden_layers", 0) or 0)
    groups: dict[tuple[bool, int], dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        decays = not (param.ndim < 2 or "norm" in name.lower())
        depth = layer_depth(name, num_layers) if layer_decay < 1.0 else 0
        group = groups.setdefault(
            (decays, depth),
            {"params": [], "weight_decay": weight_decay if decays else 0.0, "lr_scale": layer_decay**depth},
        )
        group["params"].append(param)
    return [groups[key] for key in sorted(groups)]


def make_optimizer(model: Any, lr: float, weight_decay: float, layer_decay: float = 1.0) -> torch.optim.Optimizer:
    """AdamW over `param_groups`; fused kernels where this torch has them, else foreach."""
    groups = param_groups(model, weight_decay, layer_decay)
    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(groups, lr=lr, foreach=True)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """The scheduled rate, scaled per group (layer-wise decay)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * float(group.get("lr_scale", 1.0))
