"""all2all pairs: exactly the pairs claimed (count, lead times), uniform, keyed by (seed, epoch)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
import torch

from spectral_refiner.data import PairDataset, all2all_pairs, max_lead_frames, random_pairs
from spectral_refiner.errors import SpectralRefinerError


@pytest.mark.parametrize(("n_frames", "max_lead"), [(6, 2), (6, 5), (6, 50), (2, 1)])
def test_every_pair_once_and_only_those(n_frames, max_lead):
    pairs = all2all_pairs(n_frames, max_lead)
    expected = {(i, j) for i, j in itertools.combinations(range(n_frames), 2) if j - i <= max_lead}
    assert len(pairs) == len(set(pairs)) == len(expected)
    assert set(pairs) == expected
    d = min(max_lead, n_frames - 1)
    assert len(pairs) == sum(n_frames - k for k in range(1, d + 1))
    assert Counter(j - i for i, j in pairs) == {k: n_frames - k for k in range(1, d + 1)}


def test_dataset_yields_the_frames_and_lead_times_of_its_pairs():
    """Frames carry their (trajectory, index) in their values, so each sample shows which
    frames it holds; with every pair once, the samples are exactly all2all's pairs."""
    n, t = 3, 5
    frames = torch.arange(n * t, dtype=torch.float32).view(n, t, 1, 1).expand(n, t, 4, 4)
    pairs = random_pairs([0, 2], t, max_lead=3, per_trajectory=None, seed=1, epoch=0)
    data = PairDataset(frames.contiguous(), pairs, dt=0.25)
    seen = set()
    for k in range(len(data)):
        w_i, w_j, lead = data[k]
        assert w_i.shape == w_j.shape == (1, 4, 4) and lead.shape == ()
        traj, i = divmod(int(w_i[0, 0, 0]), t)
        traj_j, j = divmod(int(w_j[0, 0, 0]), t)
        assert traj == traj_j and traj in (0, 2)
        assert lead.item() == pytest.approx((j - i) * 0.25)
        seen.add((traj, i, j))
    assert seen == {(tr, i, j) for tr in (0, 2) for i, j in all2all_pairs(t, 3)}
    assert len(data) == len(seen) == 2 * (4 + 3 + 2)


def test_random_pairs_are_uniform_and_keyed_by_seed_and_epoch():
    a = random_pairs(range(4), 8, 3, per_trajectory=500, seed=7, epoch=2)
    assert a == random_pairs(range(4), 8, 3, per_trajectory=500, seed=7, epoch=2)
    assert a != random_pairs(range(4), 8, 3, per_trajectory=500, seed=7, epoch=3)
    assert a != random_pairs(range(4), 8, 3, per_trajectory=500, seed=8, epoch=2)
    valid = set(all2all_pairs(8, 3))
    assert all((i, j) in valid for _, i, j in a)
    assert Counter(tr for tr, _, _ in a) == dict.fromkeys(range(4), 500)
    # uniform over the 18 pairs: 2000 draws, each pair expected 111 times
    counts = Counter((i, j) for _, i, j in a)
    assert len(counts) == 18 and min(counts.values()) > 70 and max(counts.values()) < 160


def test_bad_input_is_one_line():
    checks = [
        (lambda: all2all_pairs(1, 3), "at least 2 frames"),
        (lambda: all2all_pairs(5, 0), "maximum lead of at least 1"),
        (lambda: max_lead_frames(0.1, 0.25), "shorter than one frame interval"),
        (lambda: max_lead_frames(-1.0, 0.25), "must be positive"),
        (lambda: PairDataset(torch.zeros(2, 4, 3, 3), [(0, 2, 1)]), r"pair \(0, 2, 1\)"),
    ]
    for call, message in checks:
        with pytest.raises(SpectralRefinerError, match=message) as err:
            call()
        assert "\n" not in str(err.value)
    assert max_lead_frames(0.75, 0.25) == 3 and max_lead_frames(0.3, 0.1) == 3
