"""The all-modes base: the stored n² band advected on a 3n/2 grid, corrected on the n² band."""

from __future__ import annotations

import json
import math

import pytest
import torch

from spectral_refiner.cli import main
from spectral_refiner.data import apply_overrides, generate, get_preset
from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.hybrid import HybridModel
from spectral_refiner.physics import SpectralGrid, mcwilliams, resample
from spectral_refiner.physics.time_stepping import imex_stepper
from spectral_refiner.problem import Problem

F64 = torch.float64
FIELDS = {"box_length": 2 * math.pi, "viscosity": 1e-2, "drag": 0.1, "forcing": "kolmogorov"}
PROBLEM = Problem(**FIELDS, forcing_wavenumber=2, forcing_amplitude=1.0, dt=0.02, resolution=16)
SPEC = {"steps_per_frame": 2, "dt": 0.01, "t_out": 3, "problem": PROBLEM.to_dict()}
SPEC["corrector"] = {"name": "cnn", "width": 4, "n_layers": 2}


def model(form="state", gain=0.0, base="all-modes", **changes) -> HybridModel:
    torch.manual_seed(0)
    m = HybridModel(**SPEC, form=form, base=base, **changes).to(F64)
    with torch.no_grad():
        m.gain.fill_(gain)
    return m


def initial(batch=2):
    return mcwilliams(SpectralGrid(16, 2 * math.pi, F64), 1, range(batch))


@pytest.mark.parametrize("form", ["closure", "state"])
def test_zero_correction_is_the_plain_solver_on_the_3n_2_grid_bit_for_bit(form):
    """Gain 0: the frames are those of the plain equation on the 24² grid from the 16² frame
    zero-padded, truncated back to 16², and differ from the 16² (2/3 rule) base."""
    m, w0 = model(form), initial()
    assert (m.hybrid.grid.n, m.resolution) == (24, 16)
    with torch.no_grad():
        pred = m(w0[:, None])
        other = model(form, base="two-thirds")(w0[:, None])
    equation = PROBLEM.equation(24, dtype=F64)
    grid, step = equation.grid, imex_stepper(equation, 0.01)
    w_hat, plain = grid.rfft(resample(w0, 24)), []
    for _ in range(3):
        w_hat = step(step(w_hat))
        plain.append(resample(grid.irfft(w_hat), 16))
    assert torch.equal(pred, torch.stack(plain, dim=1))
    assert float((pred - other).abs().max()) > 1e-6  # the base is another solver


def test_the_correction_acts_on_the_stored_band_only():
    """One corrected step on the 24² grid minus the plain step is the 16² correction of the
    stepped state zero-padded: nothing beyond the stored band ``|m| < 8``."""
    m, w0 = model("state", gain=0.5), initial()
    fine = m.hybrid.grid
    w_hat = fine.rfft(resample(w0, 24))
    with torch.no_grad():
        plain = imex_stepper(m.hybrid.equation, 0.01)(w_hat)
        diff = m.hybrid.stepper(0.01)(w_hat) - plain
        expected = m.hybrid.corrector(fine.resample_hat(plain, 16))
    stored = (fine.mx.abs() < 8) & (fine.my < 8)
    assert float(diff[..., ~stored].abs().max()) == 0 < float(diff.abs().max())
    torch.testing.assert_close(fine.resample_hat(diff, 16), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("form", ["closure", "state"])
def test_gradient_through_an_all_modes_unroll_matches_finite_differences(form):
    """float64, 16² stored on 24², 2 frames of 2 RK4-CN steps: gradcheck along a direction of
    the initial field, central differences for the gain and a weight (relative 1e-6), and
    the checkpointed gradient equal to the plain one bit for bit."""
    m, w0 = model(form, gain=0.3, inputs="vorticity-velocity"), initial()
    phi = mcwilliams(m.hybrid.corrector.grid, 7, [0, 1])
    with torch.no_grad():
        targets = 1.05 * m.advance(w0 + 0.1 * phi, 2)

    def loss(a):
        pred = m.advance(w0 + a * phi, 2)
        return (pred - targets).square().sum() / targets.square().sum()

    a = torch.zeros((), dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(loss, (a,), eps=1e-6, atol=1e-8, rtol=1e-5, fast_mode=True)
    weight = next(p for p in m.net.parameters() if p.dim() > 1)
    index = (0,) * weight.dim()
    grads = torch.autograd.grad(loss(0.0), [m.gain, weight])
    m.checkpoint = True
    for plain, checked in zip(grads, torch.autograd.grad(loss(0.0), [m.gain, weight]), strict=True):
        assert torch.equal(plain, checked)
    for p, at, grad in ((m.gain, (), grads[0]), (weight, index, grads[1][index])):
        saved = p[at].clone()
        with torch.no_grad():
            p[at] = saved + 1e-6
            up = loss(0.0)
            p[at] = saved - 1e-6
            down = loss(0.0)
            p[at] = saved
        assert float(grad) == pytest.approx(float(up - down) / 2e-6, rel=1e-6, abs=1e-12)


def test_an_unknown_base_is_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(SpectralRefinerError, match="unknown base 'three-halves'"):
        model(base="three-halves")
    dns = ["sim_resolution=32", "resolution=16", "n_trajectories=3", "n_frames=5"]
    preset = apply_overrides(get_preset("kolmogorov-dns256"), [*dns, "warmup_time=0.1"])
    data = generate(preset, tmp_path / "dns.h5", progress=False)
    config = {"model": {"name": "hybrid", "base": "three-halves", **SPEC, "t_out": 2}}
    del config["model"]["problem"], config["model"]["t_out"]
    config["data"] = {"t_in": 1, "t_out": 2, "val_split": 1, "test_split": 1}
    (tmp_path / "c.json").write_text(json.dumps(config))
    args = ["train", "--config", str(tmp_path / "c.json"), "--data", str(data), "--quiet"]
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown base" in err and not (tmp_path / "run").exists()
