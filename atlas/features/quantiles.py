"""Cutting a feature's histogram into activation-quantile buckets (by count of activations).

Each histogram bin goes to the bucket that holds the middle of its share of the cumulative
count, so bins never split: a bucket's examples come from its bins' samples. A bin holding more
than one bucket's share of the mass leaves neighbouring buckets empty; those are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bucket:
    """A run of consecutive histogram bins."""

    index: int
    """Which of the n quantile slices it is (0 = lowest activations)."""
    bins: tuple[int, ...]
    """Histogram bins in it, ascending."""
    quantile_lo: float
    """Cumulative share of activations below its first bin."""
    quantile_hi: float
    """Cumulative share of activations up to the end of its last bin."""


def assign_buckets(hist: dict[int, int], n_buckets: int) -> list[Bucket]:
    """Group the non-empty bins of `hist` (bin -> count) into at most `n_buckets` buckets."""
    total = sum(n for n in hist.values() if n > 0)
    if total == 0 or n_buckets < 1:
        return []
    groups: dict[int, list[tuple[int, float, float]]] = {}
    below = 0
    for b in sorted(k for k, n in hist.items() if n > 0):
        n = hist[b]
        middle = (below + n / 2) / total
        index = min(int(middle * n_buckets), n_buckets - 1)
        groups.setdefault(index, []).append((b, below / total, (below + n) / total))
        below += n
    return [Bucket(index=i, bins=tuple(b for b, _, _ in g), quantile_lo=g[0][1],
                   quantile_hi=g[-1][2]) for i, g in sorted(groups.items())]
