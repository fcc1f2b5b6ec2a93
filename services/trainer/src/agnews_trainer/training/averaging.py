"""An exponential moving average (EMA) of a model's weights, kept beside the weights being trained.

Fine-tuning at minilm's high learning rate leaves the weights of any one step noisy; their running average is
usually a slightly better model than its last point. The loop updates the average after every optimizer step,
evaluates (and so early-stops on, and saves) the average, and checkpoints it for resume. The effective decay
warms up as min(decay, (1 + t) / (10 + t)), so the first steps, taken from a random head, are soon forgotten.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


def effective_decay(decay: float, updates: int) -> float:
    """The decay of update number `updates` (1-based): warm-up first, then the configured decay."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


class WeightAverage:
    """The EMA of a model's floating-point parameters; other parameters and buffers are the model's own.

    Bound to the model's parameter tensors once: loading a state dict into the model copies into those same
    tensors, so the binding holds across resume and best-weights restores.
    """

    def __init__(self, model: Any, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        named = [(n, p) for n, p in model.named_parameters() if p.is_floating_point()]
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.shadow = [p.detach().clone().float() for p in self.params]

    @torch.no_grad()
    def update(self) -> None:
        """Fold the model's current weights into the average (after an optimizer step)."""
        self.updates += 1
        weight = 1.0 - effective_decay(self.decay, self.updates)
        torch._foreach_lerp_(self.shadow, [p.detach().float() for p in self.params], weight)

    @torch.no_grad()
    def copy_to_model(self) -> None:
        """Overwrite the model's weights with the average."""
        for param, avg in zip(self.params, self.shadow, strict=True):
            param.copy_(avg.to(param.dtype))

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The model holds the average inside the block and its own trained weights again after it."""
        with torch.no_grad():
            trained = [p.detach().clone() for p in self.params]
        self.copy_to_model()
        try:
            yield
        finally:
            with torch.no_grad():
                for param, own in zip(self.params, trained, strict=True):
                    param.copy_(own)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "shadow": dict(zip(self.names, self.shadow, strict=True))}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        shadow = state["shadow"]
        missing = set(self.names) - set(shadow)
        if missing:
            raise ValueError(f"EMA state lacks {len(missing)} parameters, e.g. {sorted(missing)[0]}")
        self.updates = int(state["updates"])
        self.shadow = [shadow[n].detach().clone().float() for n in self.names]
