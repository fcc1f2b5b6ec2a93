"""The moving average of the weights, alone: the arithmetic, the swap, and its state for resume."""

from __future__ import annotations

import pytest
import torch
from agnews_trainer.training.averaging import WeightAverage, effective_decay


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))


def test_update_is_an_exponential_average_with_a_warm_up() -> None:
    model = _model()
    weight = model[0].weight
    expected = weight.detach().clone()
    average = WeightAverage(model, decay=0.5)
    for step in range(1, 6):
        with torch.no_grad():
            weight.add_(1.0)
        average.update()
        d = effective_decay(0.5, step)
        expected = d * expected + (1 - d) * weight.detach()
    assert effective_decay(0.5, 1) == pytest.approx(2 / 11) and effective_decay(0.5, 100) == 0.5
    torch.testing.assert_close(average.state_dict()["shadow"]["0.weight"], expected)


def test_swapped_in_holds_the_average_then_restores_the_trained_weights() -> None:
    model = _model()
    average = WeightAverage(model, decay=0.9)
    with torch.no_grad():
        model[0].weight.add_(5.0)
    trained = model[0].weight.detach().clone()
    with average.swapped_in():
        assert not torch.allclose(model[0].weight, trained)
        torch.testing.assert_close(model[0].weight.detach(), average.state_dict()["shadow"]["0.weight"])
    torch.testing.assert_close(model[0].weight.detach(), trained)


def test_state_round_trips_and_a_mismatched_state_is_refused() -> None:
    model = _model()
    average = WeightAverage(model, decay=0.99)
    with torch.no_grad():
        model[0].bias.add_(1.0)
    average.update()
    restored = WeightAverage(_model(), decay=0.99)
    restored.load_state_dict(average.state_dict())
    assert restored.updates == 1
    torch.testing.assert_close(restored.state_dict()["shadow"], average.state_dict()["shadow"])
    with pytest.raises(ValueError, match="lacks"):
        WeightAverage(torch.nn.Linear(3, 3), decay=0.9).load_state_dict({"updates": 1, "shadow": {}})
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(model, decay=1.0)
