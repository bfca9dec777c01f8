"""The window-aware learned closure: the ring's memory (physics/memory.py), the closure that
sees a window's earlier frames (hybrid/apriori.py) and the residual's closure protocol."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from spectral_refiner.cli import main
from spectral_refiner.data import apply_overrides, generate, get_preset, read_info, read_vorticity
from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.hybrid import load_closure
from spectral_refiner.physics import (
    SpectralGrid,
    ns_residual,
    resolved_transfer_hat,
    ring_memory,
    simulate,
    transfer_fields,
    unresolved_memory_hat,
    window_transfer_hat,
)
from spectral_refiner.physics.residual import _interval_weights
from spectral_refiner.training import train_closure
from test_apriori_closure import REDUCED as APRIORI_REDUCED

# The test-small kolmogorov-dns256 of test_apriori_closure.py, 12 frames per trajectory.
REDUCED = [*(f for f in APRIORI_REDUCED if not f.startswith("n_frames=")), "n_frames=12"]
LAGS, MEMORY = (1, 2, 4), 3


@pytest.mark.parametrize("memory", [1, 3, 6])
def test_ring_memory_is_exact_for_a_source_linear_in_time(memory):
    """``∂t ω = Lω + a + bt`` from ``ω = 0`` at ``t_{max(j-H, 0)}``, per mode (fast and slow
    decay, none), against the closed form."""
    decay = torch.tensor([-30.0, -3.0, -0.5, 0.0], dtype=torch.float64)
    dt, frames, a, b = 0.1, 9, 1.3, -0.7
    t = torch.arange(frames, dtype=torch.float64) * dt
    source = (a + b * t)[None, :, None].expand(2, frames, 4).to(torch.complex128)
    out = ring_memory(source, decay, dt, memory)
    for j in range(frames):
        t0, t1 = float(t[max(j - memory, 0)]), float(t[j])
        for mode, rate in enumerate(decay.tolist()):
            if rate == 0:
                exact = a * (t1 - t0) + b * (t1**2 - t0**2) / 2
            else:  # particular solution A + Bt, plus the homogeneous part
                slope = -b / rate
                const = (slope - a) / rate
                exact = const + slope * t1 - (const + slope * t0) * math.exp(rate * (t1 - t0))
            assert abs(complex(out[1, j, mode]) - exact) < 1e-12 * max(1.0, abs(exact))


def _band_limited(n: int, seed: int, frames: int = 5, top: int | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    grid = SpectralGrid(n, dtype=torch.float64)
    w_hat = grid.rfft(torch.randn(1, frames, n, n, generator=g, dtype=torch.float64))
    top = n // 2 if top is None else top
    keep = (grid.mx.abs() < top) & (grid.my < top)
    return w_hat * keep


def test_steady_frames_without_decay_give_the_first_transfer_term():
    """Not swept, with ``ν = μ = 0`` and the same frame throughout, the ring after ``h``
    intervals is
    ``ω_r = -h Δt P``, so its back-transfer is ``-h Δt T_1`` (``T_1`` of
    :func:`resolved_transfer_hat`, checked against numpy in test_closure_terms.py)."""
    grid = SpectralGrid(16, dtype=torch.float64)
    w_hat = _band_limited(16, 0, frames=1).expand(1, 6, -1, -1)
    dt, memory = 0.05, 4
    m = unresolved_memory_hat(w_hat, grid, memory, (0.0, 0.0), dt, substeps=0)
    t1 = resolved_transfer_hat(w_hat[:, 0], grid)[:, 1]
    assert float(t1.abs().max()) > 0
    for j in range(6):
        expected = -min(j, memory) * dt * t1
        torch.testing.assert_close(m[:, j], expected, rtol=0, atol=1e-12 * float(t1.abs().max()))


def test_the_swept_ring_converges_at_second_order():
    """The ring swept by the resolved flow (ETD2RK, the frames' fields linear in time between
    frames): its error against 64 substeps falls ~4x per halving of the step; and sweeping
    changes the ring (the flow moves it by more than the step's error)."""
    grid = SpectralGrid(16, dtype=torch.float64)
    w_hat = _band_limited(16, 4, frames=4) * 3
    args = (grid, 3, (1e-3, 0.1), 0.05)
    exact = unresolved_memory_hat(w_hat, *args, substeps=64)
    errors = [
        float((unresolved_memory_hat(w_hat, *args, substeps=s) - exact).abs().max())
        for s in (2, 4, 8)
    ]
    assert 3.2 < errors[0] / errors[1] < 5 and 3.2 < errors[1] / errors[2] < 5, errors
    unswept = unresolved_memory_hat(w_hat, *args, substeps=0)
    assert float((unswept - exact).abs().max()) > 20 * errors[2]


def test_a_flow_far_from_the_cut_off_has_no_memory_and_memory_is_equivariant():
    """Modes ``|m| < n/4`` advect nothing beyond the band (``P = 0``, no memory); and the
    memory commutes with translations of the frames."""
    grid = SpectralGrid(16, dtype=torch.float64)
    smooth = _band_limited(16, 1, top=4)
    assert float(unresolved_memory_hat(smooth, grid, 3, (1e-3, 0.1), 0.02).abs().max()) < 1e-13
    w_hat = _band_limited(16, 2)
    m = unresolved_memory_hat(w_hat, grid, 3, (1e-3, 0.1), 0.02)
    w = grid.irfft(w_hat)
    shifted = unresolved_memory_hat(
        grid.rfft(torch.roll(w, (3, 5), (-2, -1))), grid, 3, (1e-3, 0.1), 0.02
    )
    torch.testing.assert_close(
        grid.irfft(shifted), torch.roll(grid.irfft(m), (3, 5), (-2, -1)), rtol=0, atol=1e-10
    )


def test_window_channels_are_the_transfer_terms_of_the_lagged_frames():
    """Channels 0-2 are :func:`resolved_transfer_hat` of each frame bit for bit (the same
    function underneath), a lag's channels those of frame ``max(j - lag, 0)``."""
    grid = SpectralGrid(16)
    w_hat = _band_limited(16, 3, frames=6).to(grid.cdtype)
    terms, _, _ = transfer_fields(w_hat[0], grid)
    assert torch.equal(terms, resolved_transfer_hat(w_hat[0], grid))
    out = window_transfer_hat(w_hat, grid, (2,), 0)
    assert out.shape[2] == 6
    for j in range(6):
        torch.testing.assert_close(out[0, j, 3:], terms[max(j - 2, 0)], rtol=0, atol=0)
        torch.testing.assert_close(out[0, j, :3], terms[j], rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("window")
    preset = apply_overrides(get_preset("kolmogorov-dns256"), REDUCED)
    data = generate(preset, root / "dns.h5", seed=3, progress=False)
    plain = train_closure(data, root / "plain.pt")
    result = train_closure(data, root / "window.pt", lags=LAGS, memory=MEMORY)
    return data, root / "window.pt", result, plain


def test_window_closure_fits_better_and_reloads_bit_for_bit(trained):
    """Held out (a priori, frames with their full history): the window-aware closure beats
    the per-frame one fitted on the same frames (0.931 against 0.771 on 256² → 64²
    Kolmogorov flow); batch-invariant, saved and loaded bit for bit."""
    data, path, result, plain = trained
    assert result["correlation"] > plain["correlation"] + 0.02, (result, plain)
    closure, again = load_closure(path), load_closure(path)
    assert closure.window.lags == LAGS and closure.window.memory == MEMORY
    assert closure.model.gains.shape[0] == 4 + 3 * len(LAGS) + 1
    grid = closure.stored_grid
    w_hat = grid.rfft(torch.from_numpy(read_vorticity(data)))
    with torch.no_grad():
        batched = closure.window_tau_hat(w_hat)
        single = torch.cat([closure.window_tau_hat(w_hat[i : i + 1]) for i in range(len(w_hat))])
        assert torch.equal(batched, single)
        assert torch.equal(again.window_tau_hat(w_hat), batched)
    ours, theirs = closure.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_the_residual_sees_the_window_through_the_closure_protocol(trained):
    """The residual of the closed equation is the plain residual plus the interval average
    of the window's ``τ_G`` of the trajectory's own frames, and a closure without a window
    still goes the per-frame way."""
    data, path, result, _ = trained
    info = read_info(data)
    problem = dataclasses.replace(info.problem, closure={"name": "learned", "path": str(path)})
    frames = torch.from_numpy(read_vorticity(data, np.array(result["held_out"])))[:, 2:].double()
    with torch.no_grad():
        plain = ns_residual(frames, info.problem.equation(dtype=torch.float64), info.problem.dt)
        closed = ns_residual(frames, problem.equation(dtype=torch.float64), info.problem.dt)
    closure = load_closure(path, info.problem.equation(dtype=torch.float64).grid)
    with torch.no_grad():
        tau = closure.window_tau_hat(closure.grid.rfft(frames))
    weights = _interval_weights(frames.shape[1], tau.dtype, tau.device)
    average = torch.einsum("jt,bt...->bj...", weights, tau)
    scale = float(average.abs().max())
    assert scale > 1e-3 * float(plain.abs().max())
    torch.testing.assert_close(closed, plain + average, rtol=0, atol=1e-5 * scale)
    # Frames of the window only: the residual of the last 5 frames sees no earlier frame.
    with torch.no_grad():
        tail = ns_residual(frames[:, -5:], problem.equation(dtype=torch.float64), info.problem.dt)
    assert not torch.allclose(tail, closed[:, -4:], rtol=0, atol=1e-3 * scale)


def test_a_window_closure_refuses_what_it_cannot_close(trained, tmp_path, capsys):
    data, path, _, _ = trained
    info = read_info(data)
    spec = {"name": "learned", "path": str(path)}
    problem = dataclasses.replace(info.problem, closure=spec)
    frames = torch.from_numpy(read_vorticity(data))[:2].double()
    equation = problem.equation(dtype=torch.float64)
    with pytest.raises(SpectralRefinerError, match="at least 5 frames, got 4"):
        ns_residual(frames[:, :4], equation, info.problem.dt)
    stride_hint = r"trained on frames 0\.02 apart.*--frame-stride 2"
    with pytest.raises(SpectralRefinerError, match=stride_hint):
        ns_residual(frames[:, ::2], equation, 2 * info.problem.dt)
    with pytest.raises(SpectralRefinerError, match="not a single frame or a solver step"):
        simulate(equation, frames[:, 0], [0.01], courant=0.5)
    for change, message in (
        ({"resolution": 24}, "trained at resolution 16"),
        ({"viscosity": 2e-3}, "viscosity"),
    ):
        with pytest.raises(SpectralRefinerError, match=message):
            dataclasses.replace(problem, **change).equation()
    out = tmp_path / "long.pt"
    assert main(["train-closure", "--data", str(data), "--out", str(out), "--lags", "12"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "too few for lags [12]" in err
    assert not out.exists()
    cnn = ["--model", "cnn", "--memory", "2"]
    assert main(["train-closure", "--data", str(data), "--out", str(out), *cnn]) == 2
    assert "need --model shell" in capsys.readouterr().err
    assert not out.exists()


def test_substeps_of_the_ring_are_saved_and_used(trained, tmp_path, capsys):
    """``train-closure --substeps 2`` stores the ring's steps per interval with the closure
    and its τ uses them (another count gives another memory term); its fit stays close to
    the default's (0.928 against 0.931 held out on 256² → 64² Kolmogorov flow, at half the
    ring's cost)."""
    data, path, result, _ = trained
    out = tmp_path / "s2.pt"
    args = ["--data", str(data), "--out", str(out), "--memory", str(MEMORY), "--substeps", "2"]
    lags = [str(k) for k in LAGS]
    assert main(["train-closure", *args, "--lags", *lags, "--quiet"]) == 0
    line = capsys.readouterr().out
    correlation = float(line.split("held-out correlation with the exact τ ")[1].split(",")[0])
    assert abs(correlation - result["correlation"]) < 0.02, (correlation, result)
    closure = load_closure(out)
    assert closure.window.substeps == 2 and load_closure(path).window.substeps == 4
    w_hat = closure.stored_grid.rfft(torch.from_numpy(read_vorticity(data))[:1])
    with torch.no_grad():
        two = closure.window_tau_hat(w_hat)
        closure.window = dataclasses.replace(closure.window, substeps=4)
        four = closure.window_tau_hat(w_hat)
    assert not torch.allclose(two, four, rtol=0, atol=1e-6 * float(two.abs().max()))


def test_a_strided_window_closure_closes_frames_that_far_apart(trained, tmp_path):
    """``frame_stride=2`` fits on every other frame: the closure fits τ there about as well
    as the unstrided one (0.86 against 0.84 held out on these small files; the per-frame
    closure 0.65), closes the residual of frames twice the file's interval apart (a model
    trained with ``data.frame_stride: 2``) and refuses the file's own interval."""
    data, _, _, plain = trained
    info = read_info(data)
    out = tmp_path / "stride2.pt"
    result = train_closure(data, out, lags=(1, 2), memory=2, frame_stride=2)
    assert result["correlation"] > plain["correlation"] + 0.1, (result, plain)
    closure = load_closure(out)
    dt = info.problem.dt
    assert closure.window.frame_interval == pytest.approx(2 * dt)
    problem = dataclasses.replace(info.problem, closure={"name": "learned", "path": str(out)})
    equation = problem.equation(dtype=torch.float64)
    frames = torch.from_numpy(read_vorticity(data))[:, ::2].double()
    with torch.no_grad():
        plain_r = ns_residual(frames, info.problem.equation(dtype=torch.float64), 2 * dt)
        assert not torch.equal(ns_residual(frames, equation, 2 * dt), plain_r)
    with pytest.raises(SpectralRefinerError, match=r"trained on frames 0\.04 apart"):
        ns_residual(frames[:, :6], equation, dt)
