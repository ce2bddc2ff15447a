"""The scores on inputs whose values are known in closed form."""

import math

import pytest
import torch

from gancli.metrics.scores import (
    GaussianStats,
    frechet_distance,
    kernel_inception_distance,
    polynomial_mmd2,
    precision_recall,
)


def test_frechet_distance_of_two_gaussians_matches_the_closed_form():
    # Commuting covariances: sqrt(S_a S_b) = diag(sqrt(a_i b_i)), so the trace term is explicit.
    var_a, var_b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 0.25])
    rotation, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    a = GaussianStats(torch.tensor([0.0, 1.0, 2.0]), rotation @ torch.diag(var_a).double() @ rotation.T)
    b = GaussianStats(torch.tensor([1.0, 1.0, 0.0]), rotation @ torch.diag(var_b).double() @ rotation.T)
    expected = (1 + 0 + 4) + sum(va + vb - 2 * math.sqrt(va * vb) for va, vb in zip(var_a.tolist(), var_b.tolist()))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_of_sampled_features_approaches_the_population_value():
    rng = torch.Generator().manual_seed(1)
    x = torch.randn(20000, 4, generator=rng, dtype=torch.float64)
    y = torch.randn(20000, 4, generator=rng, dtype=torch.float64) * 2 + 1  # mean 1, variance 4
    expected = 4 * 1 + 4 * (1 + 4 - 2 * 2)
    assert frechet_distance(GaussianStats.of(x), GaussianStats.of(y)) == pytest.approx(expected, rel=0.05)


def test_unbiased_mmd_matches_a_hand_computed_case():
    x = torch.tensor([[0.0], [1.0]])
    y = torch.tensor([[2.0], [3.0]])
    # k(a, b) = (a b + 1)^3 with D = 1
    k = lambda a, b: (a * b + 1) ** 3  # noqa: E731
    expected = k(0, 1) + k(2, 3) - 2 * (k(0, 2) + k(0, 3) + k(1, 2) + k(1, 3)) / 4
    assert polynomial_mmd2(x, y) == pytest.approx(expected)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = torch.Generator().manual_seed(2)
    real = torch.randn(400, 8, generator=rng)
    same = torch.randn(400, 8, generator=rng)
    shifted = torch.randn(400, 8, generator=rng) + 0.5
    kid_same, std_same = kernel_inception_distance(real, same, subsets=20, subset_size=200)
    kid_shifted, _ = kernel_inception_distance(real, shifted, subsets=20, subset_size=200)
    assert abs(kid_same) < 3 * std_same + 1e-3  # unbiased: centred on zero
    assert kid_shifted > 10 * max(abs(kid_same), std_same)


def test_precision_and_recall_on_constructed_point_sets():
    # Real points on a line 0..9; the fake set covers only the first half, plus far-off outliers.
    real = torch.arange(10.0).unsqueeze(1)
    inside = torch.arange(0.0, 5.0).unsqueeze(1)
    outliers = torch.tensor([[100.0], [200.0], [300.0], [400.0], [500.0]])
    precision, recall = precision_recall(real, torch.cat([inside, outliers]), k=3)
    assert precision == pytest.approx(0.5)  # the five in-range fakes lie in the real balls, the outliers not
    # An outlier's third neighbour is far away, so its ball covers every real point: the known
    # weakness of the k-NN manifold that the paper discusses.
    assert recall == 1.0
    precision, recall = precision_recall(real, inside, k=3)
    # Fake radii: 3 at the ends (0 and 4), 2 inside; the ball of 4 reaches 7, so reals 0..7 are covered.
    assert precision == 1.0 and recall == pytest.approx(0.8)
