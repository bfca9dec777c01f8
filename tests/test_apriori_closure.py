"""The learned a-priori subgrid closure (hybrid/apriori.py, training/closure.py)."""

import dataclasses

import numpy as np
import pytest
import torch

from spectral_refiner.cli import main
from spectral_refiner.data import (
    apply_overrides,
    generate,
    get_preset,
    read_info,
    read_subgrid,
    read_vorticity,
)
from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.hybrid import load_closure
from spectral_refiner.physics import ns_residual
from spectral_refiner.physics.residual import _interval_weights
from spectral_refiner.training import closure_correlation, train_closure
from spectral_refiner.training.closure import dihedral

# kolmogorov-dns256 made test-small: a 64² DNS (ν = 5e-3, resolved at 64²) stored at 16²,
# frames 0.02 apart from t = 5.
REDUCED = [
    "viscosity=5e-3",
    "sim_resolution=64",
    "resolution=16",
    "warmup_time=5",
    "frame_interval=0.02",
    "n_frames=8",
    "n_trajectories=6",
    "batch_size=6",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("closure")
    preset = apply_overrides(get_preset("kolmogorov-dns256"), REDUCED)
    data = generate(preset, root / "dns.h5", seed=2, progress=False)
    result = train_closure(data, root / "closure.pt")
    return data, root / "closure.pt", result


def test_held_out_correlation_with_the_exact_term(trained):
    """A priori: the closure's τ against the stored exact τ of held-out trajectories (the
    shell model on the resolved transfer terms; 0.68 on this tiny DNS, 0.79 on 256² → 64²
    Kolmogorov flow; the spectral eddy viscosity alone, 0.49 there, and a broken
    feature fall below the guard)."""
    data, path, result = trained
    closure = load_closure(path)
    held = result["held_out"]
    frames = torch.from_numpy(read_vorticity(data, np.array(held)))
    tau = torch.from_numpy(read_subgrid(data, np.array(held)))
    assert closure_correlation(closure, frames, tau) == result["correlation"]
    assert result["train_correlation"] > 0.55, result
    assert result["correlation"] > 0.6, result
    assert result["relative_error"] < 0.8, result
    assert set(held).isdisjoint(result["train"])


def test_batch_invariant_and_loaded_bit_for_bit(trained):
    data, path, _ = trained
    closure = load_closure(path)
    again = load_closure(path)
    w = torch.from_numpy(read_vorticity(data)[:, 0])
    batched = closure.tau(w)
    single = torch.cat([closure.tau(w[i : i + 1]) for i in range(len(w))])
    assert torch.equal(batched, single)
    assert torch.equal(again.tau(w), batched)
    ours, theirs = closure.model.state_dict(), again.model.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_a_learned_spec_closes_the_residual_with_its_term(trained):
    """Through the Problem's spec, the residual of the closed equation is the plain residual
    plus the interval average of ``τ_G`` (``Ĉ = -τ̂_G`` on the whole stored band), and
    the float64 equation runs the float32 model."""
    data, path, result = trained
    info = read_info(data)
    closed_problem = dataclasses.replace(
        info.problem, closure={"name": "learned", "path": str(path)}
    )
    frames = torch.from_numpy(read_vorticity(data, np.array(result["train"]))).double()
    with torch.no_grad():
        plain = ns_residual(frames, info.problem.equation(dtype=torch.float64), info.problem.dt)
        closed = ns_residual(frames, closed_problem.equation(dtype=torch.float64), info.problem.dt)
    closure = load_closure(path, info.problem.equation(dtype=torch.float64).grid)
    with torch.no_grad():
        tau = closure.tau_hat(closure.grid.rfft(frames))
    average = torch.einsum("jt,bt...->bj...", _interval_weights(8, tau.dtype, tau.device), tau)
    # The model runs in float32: agreement to its round-off.
    scale = float(average.abs().max())
    assert scale > 1e-3 * float(plain.abs().max())
    torch.testing.assert_close(closed, plain + average, rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"resolution": 24}, "trained at resolution 16"),
        ({"resolution": 64}, "full DNS resolution"),
        ({"viscosity": 2e-3}, "viscosity"),
    ],
)
def test_a_closure_for_other_data_is_refused(trained, change, message):
    data, path, _ = trained
    problem = dataclasses.replace(
        read_info(data).problem, closure={"name": "learned", "path": str(path)}, **change
    )
    with pytest.raises(SpectralRefinerError, match=message):
        problem.equation()


def test_train_closure_command(trained, tmp_path, capsys):
    data, _, _ = trained
    out = tmp_path / "c.pt"
    cnn = ["--model", "cnn", "--steps", "2", "--quiet"]
    assert main(["train-closure", "--data", str(data), "--out", str(out), *cnn]) == 0
    assert out.exists() and "held-out correlation" in capsys.readouterr().out
    assert load_closure(out).model.name == "cnn"
    same = ["--held-out", str(data), "--quiet"]
    assert main(["train-closure", "--data", str(data), "--out", str(tmp_path / "e.pt"), *same]) == 2
    assert "shares 6 trajectories" in capsys.readouterr().err
    tiny = generate(
        apply_overrides(get_preset("tiny"), ["n_trajectories=2", "n_frames=2"]),
        tmp_path / "tiny.h5",
        progress=False,
    )
    assert main(["train-closure", "--data", str(tiny), "--out", str(tmp_path / "d.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "stores no subgrid term" in err
    assert not (tmp_path / "d.pt").exists()
    other = ["--held-out", str(tiny), "--quiet"]
    assert (
        main(["train-closure", "--data", str(data), "--out", str(tmp_path / "d.pt"), *other]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "stored at 32^2" in err
    assert not (tmp_path / "d.pt").exists()


def test_the_shell_closure_is_dihedral_equivariant(trained):
    """Rotating ``ω̄`` rotates ``τ_G``; the reflected flow ``-ω̄ᵀ`` (vorticity is a
    pseudo-scalar) has ``-τ_Gᵀ``; to float32 round-off."""
    data, path, _ = trained
    closure = load_closure(path)
    w = torch.from_numpy(read_vorticity(data)[:2, 3])
    with torch.no_grad():
        tau = closure.tau(w)
    assert tau.abs().max() > 0
    for element in range(1, 8):
        moved_w, expected = dihedral(w, tau, element)
        with torch.no_grad():
            moved_tau = closure.tau(moved_w)
        torch.testing.assert_close(moved_tau, expected, rtol=0, atol=1e-5 * float(tau.abs().max()))


def test_a_per_mode_closure_is_equivariant_and_saved_bit_for_bit(trained, tmp_path):
    """``--tying dihedral`` (one gain per mode and its images under the grid's rotations
    and reflections): equivariant under all eight elements, batch-invariant, and its file
    reloads to the same bits; on the large files it edges the per-shell gains (0.771 vs
    0.760 held out on Kolmogorov, 0.717 vs 0.704 on McWilliams), here it has too few frames
    for its gains (it still beats the eddy-viscosity guard)."""
    data, _, _ = trained
    out = tmp_path / "modes.pt"
    result = train_closure(data, out, tying="dihedral")
    assert result["correlation"] > 0.55, result
    closure, again = load_closure(out), load_closure(out)
    assert closure.model.config["tying"] == "dihedral"
    w = torch.from_numpy(read_vorticity(data)[:, 3])
    with torch.no_grad():
        tau = closure.tau(w)
        single = torch.cat([closure.tau(w[i : i + 1]) for i in range(len(w))])
        assert torch.equal(tau, single) and torch.equal(again.tau(w), tau)
        for element in range(1, 8):
            moved_w, expected = dihedral(w, tau, element)
            torch.testing.assert_close(
                closure.tau(moved_w), expected, rtol=0, atol=1e-5 * float(tau.abs().max())
            )
