"""The pretraining families: perturbed shear layer and random vortices — keyed by
(seed, index), unit energy by the independent diagnostic, the shear layer's exact symmetry and
profile, the vortex field's translation invariance, and their presets through the generator."""

from __future__ import annotations

import math

import pytest
import torch

from spectral_refiner.data import apply_overrides, generate, get_preset, read_flow
from spectral_refiner.physics import (
    SpectralGrid,
    enstrophy,
    kinetic_energy,
    make_initial_condition,
    perturbed_shear_layer,
    random_vortices,
)

GRID = SpectralGrid(64, 2 * math.pi, dtype=torch.float64)
FAMILIES = {"shear-layer": perturbed_shear_layer, "vortices": random_vortices}


@pytest.mark.parametrize("name", FAMILIES)
def test_draws_are_keyed_by_seed_and_index_with_unit_energy(name):
    fields = make_initial_condition(name, GRID, 3, [0, 2, 5])
    alone = make_initial_condition(name, GRID, 3, [2])
    assert torch.equal(fields[1], alone[0])  # whatever batch it is drawn in
    assert not torch.allclose(fields[0], fields[1])
    assert not torch.allclose(make_initial_condition(name, GRID, 4, [2])[0], alone[0])
    torch.testing.assert_close(kinetic_energy(fields, GRID), torch.ones(3, dtype=torch.float64))
    assert fields.mean(dim=(-2, -1)).abs().max() < 1e-12


def test_shear_layer_is_odd_under_half_box_shift_and_has_the_sech2_profile():
    w = perturbed_shear_layer(GRID, 0, [0, 1])
    torch.testing.assert_close(torch.roll(w, GRID.n // 2, dims=-1), -w, atol=1e-12, rtol=0)
    # unperturbed: independent of x, proportional to the two sech^2 layers of the docstring
    flat = perturbed_shear_layer(GRID, 0, [0], thickness=(0.04, 0.04), perturbation=0.0)[0]
    assert (flat - flat[:1]).abs().max() < 1e-12
    y = torch.arange(GRID.n, dtype=torch.float64) * GRID.length / GRID.n
    delta = 0.04 * GRID.length
    profile = sum(
        -s / torch.cosh((y - c - image) / delta) ** 2
        for image in (-GRID.length, 0.0, GRID.length)
        for c, s in ((GRID.length / 4, 1.0), (3 * GRID.length / 4, -1.0))
    )
    profile = profile - profile.mean()
    cos = (flat[0] @ profile) / (flat[0].norm() * profile.norm())
    assert cos > 1 - 1e-12


def test_a_single_vortex_has_the_same_enstrophy_wherever_it_is():
    """One vortex of fixed radius, unit energy: the enstrophy depends on neither its centre
    nor its sign or amplitude (translation invariance of the periodic Gaussian)."""
    w = random_vortices(GRID, 1, range(6), count=(1, 1), radius=(0.06, 0.06))
    z = enstrophy(w, GRID)
    torch.testing.assert_close(z, z[:1].expand(6), rtol=1e-6, atol=0)
    peaks = w.flatten(1).abs().argmax(dim=1)
    assert len(set(peaks.tolist())) == 6  # six different places


@pytest.mark.parametrize("preset", ["shear-layer-re1000", "vortices-re1000"])
def test_presets_generate_files(preset, tmp_path):
    small = ["n_trajectories=2", "n_frames=3", "sim_resolution=32", "resolution=16"]
    recipe = apply_overrides(get_preset(preset), small)
    flow = read_flow(generate(recipe, tmp_path / "f.h5", progress=False))
    assert flow.frames.shape == (2, 3, 16, 16) and torch.isfinite(flow.frames).all()
    assert flow.problem.viscosity == 1e-3 and flow.problem.forcing == "none"
