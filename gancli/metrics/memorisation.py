"""Does a generator copy its training images? Each generated image's nearest training image in
feature space, against the same distance for real images the generator never saw.

A generator that generalises makes images no nearer to the training set than new real images
are; one that copies makes images nearer. Two readings of that:

- `share`: the share of generated images nearer to a training image than the held-out real
  images' 5th percentile of the same distance; 5% when the two are alike;
- `z`: the Mann-Whitney z of the generated against the held-out distances, Meehan et al. 2020's
  C_T test over one cell: about 0 when alike, well below 0 when the generated images sit nearer.

`flagged` when both say so: z below -3 (the chance of that without copying is about 1 in 700)
and a share more than twice the expected 5%. A large N makes z alone significant for tiny
differences, and the share alone moves with a small N; a copying generator moves both far.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

QUANTILE = 0.05
Z_FLAG = -3.0


@dataclass(frozen=True)
class Memorisation:
    share: float              # generated images nearer to training than the held-out QUANTILE
    expected: float           # that share for held-out real images: QUANTILE
    z: float                  # Mann-Whitney z, generated against held-out distances
    flagged: bool
    nearest: torch.Tensor     # (N,) each generated image's nearest training image
    distance: torch.Tensor    # (N,) and its distance

    def scores(self) -> dict[str, float]:
        return {"memorisation_share": self.share, "memorisation_z": self.z,
                "memorised": float(self.flagged)}

    def closest(self, k: int) -> torch.Tensor:
        """The `k` generated images nearest to a training image, nearest first."""
        return self.distance.argsort()[:k]


def nearest_neighbours(queries: torch.Tensor, keys: torch.Tensor, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """For each query its nearest key: (distances, indices)."""
    distances, indices = [], []
    keys = keys.float()
    for rows in queries.float().split(chunk):
        found = torch.cdist(rows, keys).min(dim=1)
        distances.append(found.values)
        indices.append(found.indices)
    return torch.cat(distances), torch.cat(indices)


def mann_whitney_z(a: torch.Tensor, b: torch.Tensor) -> float:
    """z of the Mann-Whitney U of `a` against `b`: below 0 when `a` tends to be smaller."""
    m, n = a.shape[0], b.shape[0]
    values = torch.cat([a, b]).double()
    order = values.argsort()
    ranks = torch.empty_like(values)
    ranks[order] = torch.arange(1, m + n + 1, dtype=torch.float64)
    for value in values[order][1:][values[order][1:] == values[order][:-1]].unique():  # ties share a mean rank
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    u = float(ranks[:m].sum()) - m * (m + 1) / 2
    return (u - m * n / 2) / ((m * n * (m + n + 1) / 12) ** 0.5)


def memorisation(train: torch.Tensor, heldout: torch.Tensor, fake: torch.Tensor) -> Memorisation:
    """Generated features `fake` against the training features `train`, with held-out real
    features `heldout` (never trained on) as the yardstick."""
    if min(train.shape[0], heldout.shape[0], fake.shape[0]) < 2:
        raise ValueError("memorisation needs at least two training, held-out and generated images")
    heldout_distance, _ = nearest_neighbours(heldout, train)
    distance, nearest = nearest_neighbours(fake, train)
    threshold = torch.quantile(heldout_distance.double(), QUANTILE)
    share = float((distance.double() < threshold).float().mean())
    z = mann_whitney_z(distance, heldout_distance)
    return Memorisation(share, QUANTILE, z, z < Z_FLAG and share > 2 * QUANTILE, nearest, distance)


def side_by_side(fake: torch.Tensor, train: torch.Tensor, found: Memorisation, k: int = 8) -> torch.Tensor:
    """uint8 images for a grid of `k` columns: the `k` generated images nearest to a training
    image on top, each one's nearest training image beneath it."""
    closest = found.closest(k)
    return torch.cat([fake[closest], train[found.nearest[closest]]])
