import math

import torch

from spectral_refiner.physics import (
    SpectralGrid,
    energy_spectrum,
    enstrophy,
    fno_gaussian_random_field,
    kinetic_energy,
    mcwilliams,
    vorticity_correlation,
)

F64 = torch.float64


def test_draws_are_keyed_by_seed_and_index():
    g = SpectralGrid(32, 1.0, F64)
    batch = fno_gaussian_random_field(g, 5, [3, 4, 9])
    alone = fno_gaussian_random_field(g, 5, [9])
    assert torch.equal(batch[2], alone[0])
    assert not torch.allclose(batch[0], batch[1])
    assert not torch.allclose(fno_gaussian_random_field(g, 6, [9])[0], alone[0])


def test_fno_field_has_the_stated_covariance():
    """E|ĉ_k|^2 = 2 σ^2 (4π^2|m|^2 + τ^2)^{-α} on the unit box (σ = 7^{3/2}, τ = 7, α = 2.5)."""
    g = SpectralGrid(32, 1.0, F64)
    w = fno_gaussian_random_field(g, 0, range(400))
    c = g.rfft(w)
    assert float(c[:, 0, 0].abs().max()) < 1e-12  # mean zero
    for mx, my in [(1, 0), (2, 3), (-4, 1)]:
        expected = 2 * 7.0**3 * (4 * math.pi**2 * (mx**2 + my**2) + 49.0) ** -2.5
        measured = float(c[:, mx, my].abs().square().mean())
        assert abs(measured / expected - 1) < 0.2, (mx, my, measured / expected)


def test_mcwilliams_field_has_unit_energy_and_peaked_spectrum():
    g = SpectralGrid(64, 2 * math.pi, F64)
    w = mcwilliams(g, 0, range(16))
    torch.testing.assert_close(kinetic_energy(w, g), torch.ones(16, dtype=F64))
    _, spec = energy_spectrum(w, g)
    mean = spec.mean(0)
    assert 2 <= int(mean.argmax()) <= 5  # energy near k0 = 4 (|ψ̂|^2 ∝ k^-1 (1 + (k/4)^4)^-1)
    assert float(w.mean(dim=(-2, -1)).abs().max()) < 1e-12


def test_energy_spectrum_sums_to_energy_and_single_modes_are_exact():
    g = SpectralGrid(32, 2 * math.pi, F64)
    X, Y = g.mesh()
    a = 0.7
    w = a * torch.cos(3 * X + 4 * Y)  # |k| = 5: ψ = w/25, u^2 mean = a^2 |k|^2 / 25^2 / 2
    energy = 0.5 * a**2 / 25 / 2
    torch.testing.assert_close(kinetic_energy(w, g), torch.tensor(energy, dtype=F64))
    torch.testing.assert_close(enstrophy(w, g), torch.tensor(0.25 * a**2, dtype=F64))
    k, spec = energy_spectrum(w, g)
    assert int(spec.argmax()) == 5 and float(k[5]) == 5.0
    torch.testing.assert_close(spec.sum(), kinetic_energy(w, g))
    w2 = mcwilliams(g, 1, [0, 1])
    torch.testing.assert_close(energy_spectrum(w2, g)[1].sum(-1), kinetic_energy(w2, g))


def test_vorticity_correlation():
    g = SpectralGrid(32, 2 * math.pi, F64)
    X, Y = g.mesh()
    a, b = torch.sin(X), torch.cos(2 * Y)
    assert float(vorticity_correlation(a, a)) == 1.0
    torch.testing.assert_close(vorticity_correlation(a, -3 * a), torch.tensor(-1.0, dtype=F64))
    assert abs(float(vorticity_correlation(a, b))) < 1e-12
    torch.testing.assert_close(vorticity_correlation(a, a + b), torch.tensor(0.5**0.5, dtype=F64))
