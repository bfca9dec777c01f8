"""Conditioned calls (lead time, step), scOT's periodic windows and resolution rule, and the
periodic CNN against an independent computation."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.models import FNO2d, PeriodicCNN, ScOT, UNet, build_model

SCOT = dict(t_in=3, t_out=2, embed_dim=8, patch_size=2, window_size=2, levels=3, head_dim=4)
CONDITIONED = {
    "scot": SCOT,
    "fno2d": dict(t_in=3, t_out=2, width=8, modes=4, n_layers=2, condition_on="lead_time"),
    "unet": dict(t_in=3, t_out=2, width=8, levels=2, condition_on="lead_time"),
}


def _x(batch: int = 3, n: int = 32, t: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, t, n, n, generator=g, dtype=torch.float64)


def _build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, **CONDITIONED[name]).double()


@pytest.mark.parametrize("name", sorted(CONDITIONED))
def test_lead_time_changes_the_prediction_per_instance(name):
    """Two lead times give two predictions; a (B,) tensor of lead times conditions each
    instance on its own (instance i of the batch equals the call on it alone)."""
    model, x = _build(name), _x()
    lead = torch.tensor([0.25, 1.0, 4.0], dtype=torch.float64)
    with torch.no_grad():
        batch = model(x, lead_time=lead)
        one = model(x, lead_time=1.0)
        alone = [model(x[i : i + 1], lead_time=float(lead[i])) for i in range(3)]
    assert (batch[0] - one[0]).norm() > 1e-3 * one[0].norm()
    assert (batch[2] - one[2]).norm() > 1e-3 * one[2].norm()
    torch.testing.assert_close(batch[1], one[1], rtol=0, atol=1e-12)
    torch.testing.assert_close(batch, torch.cat(alone), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CONDITIONED))
def test_zeroing_the_conditioning_path_changes_the_prediction(name):
    """Zeroing the lead-time embedding changes the prediction; it is the documented call
    without a lead time (embedding e = 0)."""
    model, x = _build(name), _x()
    with torch.no_grad():
        conditioned = model(x, lead_time=2.0)
        handle = model.embedding.register_forward_hook(lambda m, i, o: torch.zeros_like(o))
        zeroed = model(x, lead_time=2.0)
        handle.remove()
        plain = model(x)
    assert (conditioned - zeroed).norm() > 1e-3 * conditioned.norm()
    torch.testing.assert_close(zeroed, plain, rtol=0, atol=1e-13)


@pytest.mark.parametrize("name", sorted(CONDITIONED))
def test_every_parameter_takes_part_without_conditioning(name):
    """A conditioned model called without its keyword (fixed-window training) keeps every
    parameter in the graph, as torchrun's data parallelism requires; the embedding's gradient
    is zero, as its output is."""
    model = _build(name)
    model(_x()).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing
    assert all(p.grad.abs().max() == 0 for p in model.embedding.parameters())


def test_scot_windows_are_periodic():
    """On the torus the cyclically shifted windows need no mask: shifting the input by the
    model's divisor (patch x window x 2^(levels-1) points, which keeps every window grid
    aligned) shifts the output by the same amount, exactly."""
    model, x = _build("scot"), _x(batch=1, n=32)
    assert model.divisor == 16
    with torch.no_grad():
        out = model(x, lead_time=1.5)
        shifted = model(torch.roll(x, (16, -16), dims=(2, 3)), lead_time=1.5)
    torch.testing.assert_close(shifted, torch.roll(out, (16, -16), dims=(2, 3)), rtol=0, atol=1e-12)
    assert (model(torch.roll(x, 2, dims=2), lead_time=1.5) - out).norm() > 1e-6  # not trivial


def test_scot_resolution_rule():
    model = _build("scot")
    assert model(_x(batch=1, n=48), lead_time=1.0).shape == (1, 2, 48, 48)
    with pytest.raises(SpectralRefinerError, match=r"divisible by 16 .* got 40x40") as err:
        model(_x(batch=1, n=40), lead_time=1.0)
    assert "\n" not in str(err.value)
    assert ScOT().divisor == 64 and ScOT().n_parameters() < 1_000_000


def test_conditioning_is_off_by_default_and_bad_conditioning_is_one_line():
    fno, unet = FNO2d(t_in=2, width=8, n_layers=2), UNet(t_in=2, width=8, levels=2)
    # default off: the parameters are those of the plain models (old checkpoints load)
    assert not any("embedding" in k or "film" in k for k in fno.state_dict())
    assert not any("embedding" in k or "film" in k for k in unet.state_dict())
    x = _x(batch=2, t=2).float()
    checks = [
        (fno, {"lead_time": 1.0}, "model fno2d takes no lead_time conditioning"),
        (PeriodicCNN(t_in=2), {"step": 1}, "model cnn takes no step conditioning"),
        (ScOT(t_in=2), {"noise_level": 0.1}, r"model scot takes no noise_level .*lead_time"),
        (ScOT(t_in=2), {"lead_time": 0.0}, "lead_time must be finite and positive, got 0.0"),
        (ScOT(t_in=2), {"lead_time": float("nan")}, "lead_time must be finite"),
        (ScOT(t_in=2), {"lead_time": torch.ones(3)}, r"\(2,\) tensor for a batch of 2"),
        (UNet(t_in=2, condition_on="step"), {"step": -1}, "step must be finite and non-neg"),
        (
            ScOT(t_in=2, condition_max=4.0),
            {"lead_time": torch.tensor([1.0, 4.5])},
            r"lead_time 4.5 is beyond the largest value model scot was trained for \(4, its ",
        ),
    ]
    for model, kwargs, message in checks:
        with pytest.raises(SpectralRefinerError, match=message) as err:
            model(torch.zeros(2, 2, 64, 64) if isinstance(model, ScOT) else x, **kwargs)
        assert "\n" not in str(err.value)
    with pytest.raises(SpectralRefinerError, match="condition_on='time' is unknown"):
        FNO2d(condition_on="time")


def test_periodic_cnn_is_the_stated_convolutions():
    """The CNN equals GELU-separated 2-D convolutions of the circularly padded field
    (computed independently with F.pad), on any grid, and commutes with grid shifts."""
    torch.manual_seed(1)
    model = PeriodicCNN(t_in=2, t_out=3, width=5, n_layers=3, kernel_size=5).double()
    x = _x(batch=2, n=24, t=2)[..., :20]  # a rectangular grid
    v = x
    for i, conv in enumerate(model.convs):
        v = F.conv2d(F.pad(v, (2, 2, 2, 2), mode="circular"), conv.weight, conv.bias)
        v = F.gelu(v) if i < 2 else v
    with torch.no_grad():
        out = model(x)
        torch.testing.assert_close(out, v, rtol=0, atol=1e-12)
        rolled = model(torch.roll(x, (5, 7), dims=(2, 3)))
    torch.testing.assert_close(rolled, torch.roll(out, (5, 7), dims=(2, 3)), rtol=0, atol=1e-12)
    with pytest.raises(SpectralRefinerError, match="odd kernel_size"):
        PeriodicCNN(kernel_size=4)
