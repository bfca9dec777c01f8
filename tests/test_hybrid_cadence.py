"""The state form's correction cadence: a correction after every m-th coarse step."""

import math

import pytest
import torch

from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.hybrid import Corrector, HybridModel, SolverInTheLoop, rollout
from spectral_refiner.models import build_model
from spectral_refiner.physics import NavierStokes2D, SpectralGrid, kolmogorov_forcing, mcwilliams
from spectral_refiner.physics.time_stepping import imex_stepper
from spectral_refiner.problem import Problem

F64 = torch.float64


def setup(gain):
    g = SpectralGrid(16, 2 * math.pi, F64)
    eq = NavierStokes2D(g, 1e-2, drag=0.1, forcing=kolmogorov_forcing(g, 2))
    torch.manual_seed(0)
    net = build_model("cnn", t_in=1, t_out=1, width=4, n_layers=2).double()
    return g, eq, Corrector(net, g, gain=gain), mcwilliams(g, 1, range(2))


def by_hand(g, eq, corrector, w0, frames, steps, every, dt):
    """The cadence written out: ``every`` plain steps, then ``ω̂ += ĉ(ω̂)``, across frames."""
    step, w_hat, out, j = imex_stepper(eq, dt), g.rfft(w0), [], 0
    for _ in range(frames):
        for _ in range(steps):
            w_hat, j = step(w_hat), j + 1
            if j % every == 0:
                w_hat = w_hat + corrector(w_hat)
        out.append(g.irfft(w_hat))
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("every", [1, 2, 4, 8, 12])
def test_correction_every_m_steps_is_the_cadence_written_out(every):
    """m divides the 4 steps of a frame, or is a multiple of them (every 2 or 3 frames)."""
    g, eq, corrector, w0 = setup(gain=0.5)
    with torch.no_grad():
        out = rollout(SolverInTheLoop(eq, corrector, every=every), w0, 6, 4, 0.02)
        assert torch.equal(out, by_hand(g, eq, corrector, w0, 6, 4, every, 0.02))
        if every > 1:  # the cadence changes the solution
            each = rollout(SolverInTheLoop(eq, corrector), w0, 6, 4, 0.02)
            assert float((out - each).abs().max()) > 1e-4


def test_zero_correction_every_m_steps_is_the_plain_solver_bit_for_bit():
    g, eq, corrector, w0 = setup(gain=0.0)
    plain = by_hand(g, eq, lambda w: torch.zeros_like(w), w0, 4, 4, 1, 0.02)
    for every in (2, 8):
        hybrid = SolverInTheLoop(eq, corrector, every=every)
        assert torch.equal(rollout(hybrid, w0, 4, 4, 0.02), plain)


def test_the_model_takes_the_cadence_and_refuses_a_bad_one():
    fields = {"box_length": 2 * math.pi, "viscosity": 1e-2, "drag": 0.1}
    fields |= {"forcing": "kolmogorov", "forcing_wavenumber": 2, "forcing_amplitude": 1.0}
    problem = Problem(**fields, dt=0.02, resolution=16).to_dict()
    spec = {"problem": problem, "form": "state", "steps_per_frame": 2, "dt": 0.01}
    spec["corrector"] = {"name": "cnn", "width": 4, "n_layers": 2}
    assert HybridModel(**spec, correct_every=2).hybrid.steps_per_call == 2
    assert HybridModel(**spec).hybrid.steps_per_call == 1
    assert HybridModel(**spec, correct_every=4).hybrid.steps_per_call == 4  # every 2 frames
    for bad in (
        {"correct_every": 3},
        {"correct_every": 5},
        {"correct_every": 0},
        {"form": "closure", "correct_every": 2},
    ):
        with pytest.raises(SpectralRefinerError, match="correct_every"):
            HybridModel(**{**spec, **bad})
    _, eq, corrector, w0 = setup(gain=0.5)
    for every in (3, 6):
        with pytest.raises(SpectralRefinerError, match="does not divide"):
            rollout(SolverInTheLoop(eq, corrector, every=every), w0, 1, 4, 0.02)
    with pytest.raises(SpectralRefinerError, match="positive integer"):
        SolverInTheLoop(eq, corrector, every=0)


def test_gradient_through_corrections_every_two_frames_matches_finite_differences():
    """float64, 16² on the all-modes base, 4 frames of 2 steps, a correction every 2 frames:
    central differences for the gain and a weight (relative 1e-6), the checkpointed gradient
    equal to the plain one bit for bit."""
    fields = {"box_length": 2 * math.pi, "viscosity": 1e-2, "drag": 0.1}
    fields |= {"forcing": "kolmogorov", "forcing_wavenumber": 2, "forcing_amplitude": 1.0}
    problem = Problem(**fields, dt=0.02, resolution=16).to_dict()
    torch.manual_seed(0)
    m = HybridModel(
        problem=problem,
        form="state",
        base="all-modes",
        steps_per_frame=2,
        dt=0.01,
        correct_every=4,
        corrector={"name": "cnn", "width": 4, "n_layers": 2},
    ).to(F64)
    with torch.no_grad():
        m.gain.fill_(0.3)
    w0 = mcwilliams(SpectralGrid(16, 2 * math.pi, F64), 1, range(2))
    with torch.no_grad():
        targets = 1.05 * m.advance(w0, 4)

    def loss():
        return (m.advance(w0, 4) - targets).square().sum() / targets.square().sum()

    weight = next(p for p in m.net.parameters() if p.dim() > 1)
    index = (0,) * weight.dim()
    grads = torch.autograd.grad(loss(), [m.gain, weight])
    m.checkpoint = True
    for plain, checked in zip(grads, torch.autograd.grad(loss(), [m.gain, weight]), strict=True):
        assert torch.equal(plain, checked)
    for p, at, grad in ((m.gain, (), grads[0]), (weight, index, grads[1][index])):
        saved = p[at].clone()
        with torch.no_grad():
            p[at] = saved + 1e-6
            up = loss()
            p[at] = saved - 1e-6
            down = loss()
            p[at] = saved
        assert float(grad) != 0.0
        assert float(grad) == pytest.approx(float(up - down) / 2e-6, rel=1e-6, abs=1e-12)


def test_a_rollout_continued_frame_by_frame_keeps_a_cadence_longer_than_a_frame():
    """compare-hybrid advances one frame at a time: with ``first_frame`` the frames are the
    whole rollout's (to float64 round-off of the transforms between calls); without it the
    correction every 2 frames would never come."""
    _, eq, corrector, w0 = setup(gain=0.5)
    hybrid = SolverInTheLoop(eq, corrector, every=8)
    with torch.no_grad():
        whole = rollout(hybrid, w0, 6, 4, 0.02)
        w, parts, fresh = w0, [], w0
        for k in range(6):
            w = rollout(hybrid, w, 1, 4, 0.02, first_frame=k)[:, 0]
            fresh = rollout(hybrid, fresh, 1, 4, 0.02)[:, 0]
            parts.append(w)
    torch.testing.assert_close(torch.stack(parts, dim=1), whole, rtol=0, atol=1e-12)
    assert float((fresh - whole[:, -1]).abs().max()) > 1e-4
