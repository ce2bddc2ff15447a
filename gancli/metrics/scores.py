"""The scores themselves, on feature matrices (N, D): Frechet distance, KID, precision/recall.

Everything is computed in float64 with torch alone (no scipy), so a score does not depend on
which optional packages happen to be installed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GaussianStats:
    """Mean (D,) and covariance (D, D) of a feature set, as FID summarises it."""

    mean: torch.Tensor
    cov: torch.Tensor

    @classmethod
    def of(cls, features: torch.Tensor) -> "GaussianStats":
        features = features.double()
        if features.shape[0] < 2:
            raise ValueError("a covariance needs at least two feature vectors")
        return cls(features.mean(0), torch.cov(features.T))


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    Tr((S_a S_b)^(1/2)) equals the sum of the square roots of the eigenvalues of the symmetric
    S_a^(1/2) S_b S_a^(1/2), which avoids the non-symmetric matrix square root (and its complex
    round-off) that scipy.linalg.sqrtm needs.
    """
    return FrechetReference(a).distance(b)


class FrechetReference:
    """One side of many Frechet distances (the real images'), its matrix square root taken once."""

    def __init__(self, stats: GaussianStats):
        self.stats = stats
        values, vectors = torch.linalg.eigh(stats.cov.double())
        self.root = (vectors * values.clamp(min=0).sqrt()) @ vectors.T
        self.trace = stats.cov.double().trace()

    def distance(self, other: GaussianStats) -> float:
        middle = self.root @ other.cov.double() @ self.root
        trace_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
        mean_term = (self.stats.mean.double() - other.mean.double()).square().sum()
        return float(mean_term + self.trace + other.cov.double().trace() - 2 * trace_root)


def fid_bootstrap(reference: FrechetReference, fake: torch.Tensor, rounds: int = 10, seed: int = 0) -> float:
    """The standard deviation of FID over `rounds` bootstrap resamples of the generated features
    (drawn with replacement, as many as there are), the real side held fixed: how much the score
    would move with another draw of generated images of the same size."""
    if rounds < 2:
        raise ValueError("a bootstrap standard deviation needs at least two rounds")
    rng = torch.Generator().manual_seed(seed)
    n = fake.shape[0]
    values = torch.tensor([reference.distance(GaussianStats.of(fake[torch.randint(n, (n,), generator=rng)]))
                           for _ in range(rounds)], dtype=torch.float64)
    return float(values.std())


@dataclass(frozen=True)
class FIDInfinity:
    value: float                             # FID extrapolated to infinitely many generated images
    points: tuple[tuple[int, float], ...]    # (N, FID at N) the line was fitted to


def fid_infinity(reference: FrechetReference, fake: torch.Tensor, points: int = 10, smallest: int | None = None,
                 seed: int = 0) -> FIDInfinity:
    """FID-infinity (Chong & Forsyth 2020): FID of random subsets of the generated features at
    `points` sizes from `smallest` (default: a fifth of them) to all of them, fitted by least
    squares as a line in 1/N and read at 1/N = 0. FID's bias grows as 1/N, so the intercept is
    the score without it, comparable across sample counts."""
    n = fake.shape[0]
    smallest = smallest or max(2, n // 5)
    if not 2 <= smallest < n or points < 2:
        raise ValueError(f"FID-infinity needs at least two sizes between 2 and {n} generated features")
    sizes = sorted({round(smallest + (n - smallest) * i / (points - 1)) for i in range(points)})
    rng = torch.Generator().manual_seed(seed)
    measured = []
    for size in sizes:
        subset = fake[torch.randperm(n, generator=rng)[:size]]
        measured.append((size, reference.distance(GaussianStats.of(subset))))
    x = torch.tensor([1 / size for size, _ in measured], dtype=torch.float64)
    y = torch.tensor([value for _, value in measured], dtype=torch.float64)
    slope = ((x - x.mean()) * (y - y.mean())).sum() / (x - x.mean()).square().sum()
    return FIDInfinity(float(y.mean() - slope * x.mean()), tuple(measured))


def polynomial_mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 with the cubic kernel k(a, b) = (a.b / D + 1)^3 (Binkowski et al. 2018)."""
    x, y = x.double(), y.double()
    dim = x.shape[1]
    k_xx = (x @ x.T / dim + 1) ** 3
    k_yy = (y @ y.T / dim + 1) ** 3
    k_xy = (x @ y.T / dim + 1) ** 3
    m, n = x.shape[0], y.shape[0]
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return float(within_x + within_y - 2 * k_xy.mean())


def kernel_inception_distance(real: torch.Tensor, fake: torch.Tensor, subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID as mean and standard deviation of the unbiased MMD^2 over random subsets."""
    size = min(subset_size, real.shape[0], fake.shape[0])
    if size < 2:
        raise ValueError("KID needs at least two real and two generated feature vectors")
    rng = torch.Generator().manual_seed(seed)
    values = torch.tensor([
        polynomial_mmd2(real[torch.randperm(real.shape[0], generator=rng)[:size]],
                        fake[torch.randperm(fake.shape[0], generator=rng)[:size]])
        for _ in range(subsets)
    ], dtype=torch.float64)
    std = float(values.std()) if subsets > 1 else 0.0
    return float(values.mean()), std


def _kth_neighbour_radii(points: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    radii = []
    for rows in points.split(chunk):
        distances = torch.cdist(rows, points)
        # The k+1-th smallest, since each point is its own nearest neighbour at distance 0.
        radii.append(distances.kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def _fraction_inside(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int) -> float:
    inside = 0
    for rows in queries.split(chunk):
        inside += int((torch.cdist(rows, centres) <= radii).any(dim=1).sum())
    return inside / queries.shape[0]


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3, chunk: int = 1024) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019).

    Each set's manifold is the union of balls around its points reaching their k-th nearest
    neighbour; precision is the share of generated points inside the real manifold, recall the
    share of real points inside the generated one.
    """
    if min(real.shape[0], fake.shape[0]) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} real and generated feature vectors")
    real, fake = real.double(), fake.double()
    precision = _fraction_inside(fake, real, _kth_neighbour_radii(real, k, chunk), chunk)
    recall = _fraction_inside(real, fake, _kth_neighbour_radii(fake, k, chunk), chunk)
    return precision, recall
