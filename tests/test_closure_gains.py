"""The linear closure model's gain tyings (hybrid/shells.py): fit, symmetry, old files."""

import pytest
import torch

from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.hybrid import TYINGS, ShellGains
from spectral_refiner.training.closure import dihedral

N = 16


def _random_gains(tying: str, t_in: int = 3) -> ShellGains:
    torch.manual_seed(0)
    model = ShellGains(t_in, N, tying).double()
    with torch.no_grad():
        model.gains.normal_()
    return model


@pytest.mark.parametrize("tying", TYINGS)
def test_tied_gains_are_recovered_by_the_fit(tying):
    """Targets made by known gains are fitted back to round-off, for every tying."""
    known = _random_gains(tying)
    x = torch.randn(12, 3, N, N, dtype=torch.float64)
    fitted = ShellGains(3, N, tying).double()
    fitted.fit(x, known(x)[:, 0])
    assert fitted.gains.shape == known.gains.shape
    assert float((fitted.gains - known.gains).detach().abs().max()) < 1e-10


@pytest.mark.parametrize(
    ("tying", "kept"),
    [("shell", range(8)), ("dihedral", range(8)), ("reflections", (0, 2, 5, 7))],
)
def test_a_tying_commutes_with_the_symmetries_it_ties(tying, kept):
    """Rotating/reflecting a pseudo-scalar field moves the output alike for the elements the
    tying respects; with ``reflections`` the quarter turn and the transpose (which swap the
    axes) do not commute."""
    model = _random_gains(tying, 1)
    x = torch.randn(2, 1, N, N, dtype=torch.float64)
    with torch.no_grad():
        out = model(x)
        for element in range(8):
            moved_x, expected = dihedral(x, out, element)
            gap = float((model(moved_x) - expected).abs().max() / out.abs().max())
            assert (gap < 1e-12) == (element in kept), (element, gap)


def test_a_gains_file_without_tying_loads_as_shells():
    """Closure files written before the tying existed hold per-shell gains."""
    model = _random_gains("shell")
    payload = model.payload()
    del payload["config"]["tying"]
    again = ShellGains.from_payload(payload)
    x = torch.randn(2, 3, N, N, dtype=torch.float64)
    assert torch.equal(again(x), model(x))
    with pytest.raises(SpectralRefinerError, match="unknown tying"):
        ShellGains(3, N, "radial")
