"""all2all's lead sampling (``data.lead_sampling``): the exact pair probabilities of each mode
(they sum to one, lead ``d`` gets ``(T - d)/N``, ``1/D`` or ``d^{-1}/H_D``, its start frames
alike), the draws follow them, ``pairs`` is the sampler as it was bit for bit, and a bad mode
is refused."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from spectral_refiner.config import config_from_dict
from spectral_refiner.data import all2all_pairs, lead_weights, random_pairs
from spectral_refiner.errors import SpectralRefinerError

T, D = 9, 4


def lead_probability(sampling: str, power: float = 2.0) -> dict[int, float]:
    pairs = all2all_pairs(T, D)
    p = lead_weights(pairs, sampling, power)
    out: dict[int, float] = {}
    for (i, j), q in zip(pairs, p, strict=True):
        out[j - i] = out.get(j - i, 0.0) + q
    return out


def test_lead_probabilities_are_exact():
    n = sum(T - d for d in range(1, D + 1))
    harmonic = sum(1 / d for d in range(1, D + 1))
    expected = {
        "pairs": {d: (T - d) / n for d in range(1, D + 1)},
        "leads": dict.fromkeys(range(1, D + 1), 1 / D),
        "log": {d: 1 / d / harmonic for d in range(1, D + 1)},
        "power": {d: d**-2.0 / sum(e**-2.0 for e in range(1, D + 1)) for d in range(1, D + 1)},
    }
    for sampling, want in expected.items():
        got = lead_probability(sampling)
        assert got.keys() == want.keys()
        assert all(got[d] == pytest.approx(want[d], abs=1e-14) for d in want), sampling
    for sampling in expected:  # uniform over the start frames of a lead
        pairs, p = all2all_pairs(T, D), lead_weights(all2all_pairs(T, D), sampling)
        for d in range(1, D + 1):
            same = {round(q, 15) for (i, j), q in zip(pairs, p, strict=True) if j - i == d}
            assert len(same) == 1, (sampling, d)


def test_power_0_and_1_are_leads_and_log():
    pairs = all2all_pairs(T, D)
    for power, mode in ((0.0, "leads"), (1.0, "log")):
        assert np.allclose(lead_weights(pairs, "power", power), lead_weights(pairs, mode), 0, 1e-15)


@pytest.mark.parametrize("sampling", ["leads", "log", "power"])
def test_draws_follow_the_probabilities(sampling):
    drawn = random_pairs(range(4), T, D, per_trajectory=5000, seed=3, epoch=1, sampling=sampling)
    counts = Counter(j - i for _, i, j in drawn)
    want = lead_probability(sampling)
    for d, p in want.items():  # 20000 draws: 5 binomial standard deviations
        sd = np.sqrt(20000 * p * (1 - p))
        assert abs(counts[d] - 20000 * p) < 5 * sd, (d, counts[d], 20000 * p)
    assert drawn == random_pairs(range(4), T, D, 5000, seed=3, epoch=1, sampling=sampling)


def test_pairs_is_the_former_sampler_bit_for_bit():
    """The former sampler: per trajectory, ``integers(0, N, k)`` from the (seed, epoch, 0xA2A)
    generator, then one permutation."""
    pairs = all2all_pairs(T, D)
    rng = np.random.default_rng([5, 2, 0xA2A])
    items = [(t, *pairs[p]) for t in range(3) for p in rng.integers(0, len(pairs), 40)]
    former = [items[k] for k in rng.permutation(len(items))]
    assert random_pairs(range(3), T, D, 40, seed=5, epoch=2) == former
    assert random_pairs(range(3), T, D, 40, seed=5, epoch=2, sampling="pairs") == former


def test_bad_lead_sampling_is_refused():
    with pytest.raises(SpectralRefinerError, match="lead_sampling must be one of pairs, leads"):
        config_from_dict({"data": {"lead_sampling": "geometric"}})
    with pytest.raises(SpectralRefinerError, match="lead_power must be a finite number >= 0"):
        config_from_dict({"data": {"lead_sampling": "power", "lead_power": -1}})
    with pytest.raises(SpectralRefinerError, match=r"set data\.samples_per_trajectory"):
        random_pairs([0], T, D, None, seed=0, epoch=0, sampling="log")
