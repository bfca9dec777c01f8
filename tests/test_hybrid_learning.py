"""Hybrid training that can learn: the corrector's scales, one loss everywhere, the curriculum
on K, and training through the solver lowering the held-out error below the plain solver's."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spectral_refiner.config import apply_config_overrides
from spectral_refiner.data import apply_overrides, generate, get_preset, read_flow
from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.evaluation import long_horizon
from spectral_refiner.hybrid import (
    Corrector,
    HybridModel,
    SolverInTheLoop,
    closure_inputs,
    rollout,
    unrolled_loss,
)
from spectral_refiner.metrics import relative_error
from spectral_refiner.models import build_model
from spectral_refiner.physics import NavierStokes2D, SpectralGrid, kolmogorov_forcing, mcwilliams
from spectral_refiner.physics.time_stepping import imex_stepper
from spectral_refiner.training import hybrid_kwargs
from spectral_refiner.training.settings import DataConfig, TrainConfig

F64 = torch.float64
DNS = ["sim_resolution=64", "resolution=16", "n_trajectories=4", "n_frames=12", "warmup_time=1"]


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    preset = apply_overrides(get_preset("kolmogorov-dns256"), DNS)
    path = generate(preset, tmp_path_factory.mktemp("dns") / "dns.h5", progress=False)
    return read_flow(path)


def hybrid(flow, t_out=3, frames=None, **changes) -> HybridModel:
    spec = {"corrector": {"name": "cnn", "width": 8, "n_layers": 2}} | changes
    kwargs = {"t_in": 1, "t_out": t_out, "steps_per_frame": 2, "dt": 0.01, **spec}
    problem = flow.problem.with_window(1, t_out)
    torch.manual_seed(0)
    return HybridModel(**hybrid_kwargs(kwargs, problem, flow.preset, "", frames))


def test_scales_come_from_the_training_frames_and_scale_the_correction_exactly(dns):
    """``input_scale`` = root mean square of ω, u, v over the training frames (an independent
    computation), ``output_scale`` = σ² for a closure, σ for a state correction; and
    ``ĉ(ω; s_x, s_c) = s_c ĉ(ω / s_x; 1, 1)`` to round-off."""
    frames = dns.frames[:2]
    closure = hybrid(dns, frames=frames, inputs="vorticity-velocity")
    state = hybrid(dns, frames=frames, form="state")
    w = frames.double().reshape(-1, 16, 16)
    k = torch.fft.fftfreq(16, 1 / 16, dtype=F64)
    kx, ky = k[:, None], k[None, :]
    psi_hat = torch.fft.fft2(w) / torch.where(kx**2 + ky**2 > 0, kx**2 + ky**2, 1.0)
    u = torch.fft.ifft2(1j * ky * psi_hat).real  # u = ∂ψ/∂y, v = -∂ψ/∂x, -Δψ = ω
    v = torch.fft.ifft2(-1j * kx * psi_hat).real
    rms = [float(f.square().mean().sqrt()) for f in (w, u, v)]
    assert closure.input_scale == pytest.approx(rms, rel=1e-9)
    assert closure.output_scale == pytest.approx(rms[0] ** 2, rel=1e-9)
    assert state.input_scale == pytest.approx(rms[:1]) and state.output_scale == pytest.approx(
        rms[0]
    )
    assert hybrid(dns, frames=frames, output_scale=2.0).output_scale == 2.0  # config wins

    g = SpectralGrid(16, 2 * math.pi, F64)
    net = build_model("cnn", t_in=3, t_out=1, width=4, n_layers=2).double()
    scaled = Corrector(net, g, "vorticity-velocity", 0.7, [2.0, 3.0, 5.0], -4.0)
    unit = Corrector(net, g, "vorticity-velocity", 0.7)
    w_hat = g.rfft(w[:3])
    x = (
        closure_inputs(g, w_hat, "vorticity-velocity")
        / torch.tensor([2.0, 3.0, 5.0]).reshape(3, 1, 1).double()
    )
    expect = -4.0 * 0.7 * g.rfft(net(x)[:, 0]) * unit.band
    torch.testing.assert_close(scaled(w_hat), expect, rtol=1e-12, atol=1e-12)
    with pytest.raises(SpectralRefinerError, match="input_scale"):
        Corrector(net, g, "vorticity-velocity", 0.0, [1.0, -1.0, 1.0])


def test_a_hybrid_refuses_frames_of_another_resolution(dns):
    model = hybrid(dns)
    with pytest.raises(SpectralRefinerError, match=r"coarse 16\^2 grid only.*resolution 16"):
        model(torch.zeros(1, 1, 32, 32))


def test_unrolled_loss_is_the_trainers_window_error(dns):
    """The loss a hybrid trains on through :func:`unrolled_loss` is the trainer's data loss
    and the validation metric, :func:`relative_error` of the window."""
    model = hybrid(dns, frames=dns.frames[:2]).double()
    with torch.no_grad():
        model.gain.fill_(0.05)
    w0, target = dns.frames[:2, 0].double(), dns.frames[:2, 1:4].double()
    with torch.no_grad():
        pred = model(w0[:, None])
        loss = unrolled_loss(model.hybrid, w0, target, 2, 0.01)
    window = relative_error(pred, target, model.hybrid.grid).mean()
    assert float(loss) == pytest.approx(float(window), rel=1e-12)
    per_frame = relative_error(pred, target, model.hybrid.grid, per_frame=True).mean()
    assert abs(float(loss) - float(per_frame)) > 1e-6 * float(loss)  # not the frame mean


def test_curriculum_schedule_and_its_bad_entries():
    d = DataConfig(t_in=1, t_out=8, curriculum=[[2, 1], [3, 4]])
    assert [d.unroll(e) for e in range(7)] == [1, 1, 4, 4, 4, 8, 8]
    base = TrainConfig(data=DataConfig(t_in=1, t_out=8))
    given = apply_config_overrides(base, ["data.curriculum=[[2, 1], [3, 4]]"])  # from --set
    assert given.data.curriculum == [[2, 1], [3, 4]]
    for bad in ([[0, 2]], [[1, 9]], [[1, 0]], [[2]]):
        config = TrainConfig(data=DataConfig(t_in=1, t_out=8, curriculum=bad))
        with pytest.raises(SpectralRefinerError, match=r"data\.curriculum"):
            config.validate()


def test_training_through_the_solver_learns_a_missing_term_on_every_stored_mode():
    """Frames made by the 16² solver with a drag of 0.6 where the coarse equation has 0.1 (a
    missing term on every mode, also beyond the 2/3 band, which that solver carries but
    never advects): 15 Adam steps (lr 0.02) on unrolls of K = 2 frames of three trajectories
    make the state correction remove more than a third of the held-out error over K = 4
    frames, also on the modes beyond the 2/3 band (a correction confined to that band could
    not)."""
    g = SpectralGrid(16, 2 * math.pi)
    plain = NavierStokes2D(g, 1e-2, drag=0.1, forcing=kolmogorov_forcing(g, 2))
    truth = NavierStokes2D(g, 1e-2, drag=0.6, forcing=kolmogorov_forcing(g, 2))
    step = imex_stepper(truth, 0.01)
    w_hat, frames = g.rfft(3 * mcwilliams(g, 0, range(4))), []
    for _ in range(12):
        w_hat = step(step(w_hat))
        frames.append(g.irfft(w_hat))
    frames = torch.stack(frames, dim=1)  # (4, 12, 16, 16), 2 steps of 0.01 apart
    sigma = float(frames[:3].square().mean().sqrt())
    torch.manual_seed(0)
    net = build_model("cnn", t_in=1, t_out=1, width=8, n_layers=2)
    hybrid = SolverInTheLoop(plain, Corrector(net, g, "vorticity", 0.0, [sigma], sigma))
    w0, target = frames[3, 0:8:2], torch.stack([frames[3, s + 1 : s + 5] for s in range(0, 8, 2)])

    def error(band: torch.Tensor | None = None) -> float:
        with torch.no_grad():
            e = g.rfft(rollout(hybrid, w0, 4, 2, 0.01) - target)
        e = e if band is None else e * band
        return float(e.abs().square().sum().sqrt() / g.rfft(target).abs().square().sum().sqrt())

    high = 1.0 - g.dealias
    before, before_high = error(), error(high)
    opt = torch.optim.Adam(hybrid.corrector.parameters(), lr=2e-2)
    gen = torch.Generator().manual_seed(0)
    for _ in range(15):
        traj, start = torch.randint(3, (4,), generator=gen), torch.randint(10, (4,), generator=gen)
        y = torch.stack([frames[i, s + 1 : s + 3] for i, s in zip(traj, start, strict=True)])
        loss = unrolled_loss(hybrid, frames[traj, start], y, 2, 0.01)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert error() < 0.65 * before, (error(), before)
    assert error(high) < 0.65 * before_high, (error(high), before_high)


def test_long_horizon_check_measures_both_solvers_and_reports_a_blow_up(dns):
    """Gain 0: the hybrid's measures are the plain solver's, whose relative L2 per frame is
    the metrics' (an independent computation); a correction that explodes is reported as a
    blow-up of the hybrid only; a horizon beyond the trajectories is refused."""
    model = hybrid(dns, t_out=1, frames=dns.frames[:2]).eval()
    result = long_horizon(model, dns.frames, horizon=8)
    assert result["hybrid"] == result["plain"] and result["plain"]["blew_up"] is None
    with torch.no_grad():
        pred = rollout(model.hybrid, dns.frames[:, 0], 8, 2, 0.01)
    expect = relative_error(pred, dns.frames[:, 1:9], model.hybrid.grid, per_frame=True)
    np.testing.assert_allclose(result["plain"]["rel_l2"], expect.mean(dim=0), rtol=1e-5)
    assert len(result["plain"]["band_errors"]) == 3  # shells [1,2), [2,4), [4,6) of 16² (2/3)
    with torch.no_grad():
        model.gain.fill_(1e3)
    blown = long_horizon(model, dns.frames, horizon=8)
    assert "blew up" in blown["hybrid"]["blew_up"] and blown["plain"]["blew_up"] is None
    with pytest.raises(SpectralRefinerError, match="needs trajectories"):
        long_horizon(model, dns.frames, horizon=12)
