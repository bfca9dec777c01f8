"""Hybrid solvers: coarse solver + learned correction, rolled out and differentiated."""

import math

import pytest
import torch

from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.hybrid import (
    Corrector,
    LearnedClosure,
    SolverInTheLoop,
    rollout,
    unrolled_loss,
)
from spectral_refiner.models import build_model
from spectral_refiner.physics import (
    NavierStokes2D,
    SpectralGrid,
    kolmogorov_forcing,
    mcwilliams,
    simulate,
)
from spectral_refiner.physics.time_stepping import imex_stepper

F64 = torch.float64
FORMS = [LearnedClosure, SolverInTheLoop]
MODELS = {
    "fno2d": {"name": "fno2d", "width": 4, "modes": 3, "n_layers": 1},
    "unet": {"name": "unet", "width": 4, "levels": 2},
}


def setup(n=16, inputs="vorticity", model="unet", gain=0.0, batch=3):
    g = SpectralGrid(n, 2 * math.pi, F64)
    eq = NavierStokes2D(g, 1e-2, drag=0.1, forcing=kolmogorov_forcing(g, 2))
    torch.manual_seed(0)
    spec = dict(MODELS[model])
    net = build_model(spec.pop("name"), t_in=1 if inputs == "vorticity" else 3, t_out=1, **spec)
    return (
        g,
        eq,
        Corrector(net.double(), g, inputs=inputs, gain=gain),
        mcwilliams(g, 1, range(batch)),
    )


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("model", ["fno2d", "unet"])
def test_zero_correction_is_the_plain_solver_bit_for_bit(form, model):
    g, eq, corrector, w0 = setup(model=model, inputs="vorticity-velocity")
    hybrid = form(eq, corrector)
    out = rollout(hybrid, w0, 2, 3, 0.05)
    step, w_hat, plain = imex_stepper(eq, 0.05), g.rfft(w0), []
    for _ in range(2):
        for _ in range(3):
            w_hat = step(w_hat)
        plain.append(g.irfft(w_hat))
    assert torch.equal(out, torch.stack(plain, dim=1))
    if form is LearnedClosure:  # the equation protocol: simulate takes it unchanged
        times = [0.1, 0.2]
        assert torch.equal(simulate(hybrid, w0, times, dt=0.05), simulate(eq, w0, times, dt=0.05))


@pytest.mark.parametrize("form", FORMS)
def test_correction_is_batch_invariant_band_limited_and_zero_mean(form):
    """Bit for bit with the U-Net (whose convolutions are batch-invariant on CPU); the FNO's
    batched FFTs round differently per batch size (1e-14), a property of the model."""
    g, eq, corrector, w0 = setup(gain=0.5)
    hybrid = form(eq, corrector)
    with torch.no_grad():
        batch = rollout(hybrid, w0, 2, 2, 0.05)
        alone = torch.cat([rollout(hybrid, w0[i : i + 1], 2, 2, 0.05) for i in range(3)])
        plain = rollout(form(eq, Corrector(corrector.model, g)), w0, 2, 2, 0.05)
        c_hat = corrector(g.rfft(w0))
    assert torch.equal(batch, alone)
    assert float((batch - plain).abs().max()) > 1e-3  # the correction acts
    stored = (g.mx.abs() < g.n // 2) & (g.my < g.n // 2)
    assert float(c_hat[..., ~stored].abs().max()) == 0  # no Nyquist mode
    assert float(c_hat[..., (g.dealias == 0) & stored].abs().max()) > 0  # beyond the 2/3 band
    assert float(c_hat[..., 0, 0].abs().max()) == 0 < float(c_hat.abs().max())


def test_unrolled_gradient_matches_finite_differences():
    """float64, 16² grid, 2 frames of 2 RK4-CN steps: gradcheck of the loss along a
    direction of the initial field, and central differences for the gain and a model weight
    (relative 1e-6), for both forms; the checkpointed gradient is the plain one bit for bit."""
    g, eq, corrector, w0 = setup(inputs="vorticity-velocity", model="fno2d", gain=0.3, batch=2)
    phi = mcwilliams(g, 7, [0, 1])
    for form in FORMS:
        hybrid = form(eq, corrector)
        with torch.no_grad():
            targets = 1.05 * rollout(hybrid, w0 + 0.1 * phi, 2, 2, 0.05)

        def loss(a, hybrid=hybrid, targets=targets):
            return unrolled_loss(hybrid, w0 + a * phi, targets, 2, 0.05, s=-1.0)

        a = torch.zeros((), dtype=F64, requires_grad=True)
        assert torch.autograd.gradcheck(
            loss, (a,), eps=1e-6, atol=1e-8, rtol=1e-5, check_undefined_grad=False, fast_mode=True
        )
        value = unrolled_loss(hybrid, w0, targets, 2, 0.05)
        weight = corrector.model.projection.fc2.weight
        grads = torch.autograd.grad(value, [corrector.gain, weight])
        again = unrolled_loss(hybrid, w0, targets, 2, 0.05, checkpoint=True)
        for plain, checked in zip(
            grads, torch.autograd.grad(again, [corrector.gain, weight]), strict=True
        ):
            assert torch.equal(plain, checked)
        for p, index, grad in ((corrector.gain, (), grads[0]), (weight, (0, 1), grads[1][0, 1])):
            saved = p[index].clone()
            with torch.no_grad():
                p[index] = saved + 1e-6
                up = unrolled_loss(hybrid, w0, targets, 2, 0.05)
                p[index] = saved - 1e-6
                down = unrolled_loss(hybrid, w0, targets, 2, 0.05)
                p[index] = saved
            assert float(grad) == pytest.approx(float(up - down) / 2e-6, rel=1e-6, abs=1e-12)


def test_learned_closure_moves_to_the_residual_grid():
    """The residual evaluates the equation on a padded grid: the learned term there is the
    same band-limited term (truncate, correct, zero-pad)."""
    g, eq, corrector, w0 = setup(gain=2.0, batch=1)
    hybrid = LearnedClosure(eq, corrector)
    padded = hybrid.on_grid(24)
    assert padded.corrector is corrector and padded.grid.n == 24
    with torch.no_grad():
        w_wide = g.resample_hat(g.rfft(w0), 24)  # the stored band |m| < 8, zero-padded
        wide = padded.explicit_terms(w_wide) - padded.equation.explicit_terms(w_wide)
        w_band = padded.grid.resample_hat(w_wide, 16)
        torch.testing.assert_close(
            padded.grid.resample_hat(wide, 16), corrector(w_band), rtol=0, atol=1e-12
        )
        assert float(wide.abs().max()) > 1e-3


def test_blow_up_and_bad_input_are_refused():
    g, eq, corrector, w0 = setup(batch=1)
    hybrid = SolverInTheLoop(eq, corrector)
    with pytest.raises(SpectralRefinerError, match="CFL number"):
        rollout(hybrid, w0, 1, 1, 1.0)
    with pytest.raises(SpectralRefinerError, match="non-finite"):
        rollout(hybrid, w0 * float("nan"), 1, 1, 0.01)
    with pytest.raises(SpectralRefinerError, match="expected \\(1, K, 16, 16\\)"):
        unrolled_loss(hybrid, w0, torch.zeros(2, 3, 16, 16, dtype=F64), 1, 0.01)
    with pytest.raises(SpectralRefinerError, match="t_in=3 and t_out=1"):
        Corrector(corrector.model, g, inputs="vorticity-velocity")
    for other in (SpectralGrid(8, 2 * math.pi, F64), SpectralGrid(32, math.pi, F64)):
        # a coarser equation, or one on another box (a finer one: tests/test_hybrid_base.py)
        with pytest.raises(SpectralRefinerError, match="built for a 16\\^2 grid"):
            SolverInTheLoop(NavierStokes2D(other, 1e-2), corrector)
