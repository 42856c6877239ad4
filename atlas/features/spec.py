"""The settings of feature statistics, the log-spaced histogram bins and the sampling priority."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from atlas.errors import ConfigError

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _doc(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class FeatureStatsConfig:
    """How feature statistics are gathered; fixed per (run, transcoder_set) once merging began."""

    top_k: int = field(default=32, metadata=_doc(
        "Top activating tokens kept per feature."))
    ctx_left: int = field(default=16, metadata=_doc(
        "Tokens of context kept left of an example's token."))
    ctx_right: int = field(default=8, metadata=_doc(
        "Tokens of context kept right of an example's token."))
    samples_per_bin: int = field(default=4, metadata=_doc(
        "Sampled tokens kept per feature and histogram bin (quantile examples come from them)."))
    sample_seed: int = field(default=0, metadata=_doc(
        "Seed of the sampling priority; the same seed gives the same sample in any shard order."))
    hist_log10_min: float = field(default=-3.0, metadata=_doc(
        "log10 of the lowest histogram edge; smaller activations fall into bin 0."))
    hist_log10_max: float = field(default=3.0, metadata=_doc(
        "log10 of the highest histogram edge; larger activations fall into the last bin."))
    hist_bins_per_decade: int = field(default=10, metadata=_doc(
        "Histogram bins per factor of ten."))

    def __post_init__(self) -> None:
        for name in ("top_k", "samples_per_bin", "hist_bins_per_decade"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be at least 1")
        for name in ("ctx_left", "ctx_right"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be at least 0")
        span = (self.hist_log10_max - self.hist_log10_min) * self.hist_bins_per_decade
        if span < 1 or abs(span - round(span)) > 1e-9:
            raise ConfigError(f"histogram range 10^{self.hist_log10_min}..10^{self.hist_log10_max}"
                              " must span a positive whole number of bins; adjust the bounds")

    @property
    def n_inner_bins(self) -> int:
        """Bins between the lowest and highest edge (excluding under- and overflow)."""
        return int(round((self.hist_log10_max - self.hist_log10_min) * self.hist_bins_per_decade))

    @property
    def n_bins(self) -> int:
        """All bins: underflow, inner bins, overflow."""
        return self.n_inner_bins + 2

    def bin_edges(self) -> np.ndarray:
        """The `n_bins - 1` finite edges; bin i covers [edges[i-1], edges[i])."""
        exps = self.hist_log10_min + np.arange(self.n_inner_bins + 1) / self.hist_bins_per_decade
        return np.power(10.0, exps)

    def bin_range(self, b: int) -> tuple[float, float]:
        """Lower and upper edge of bin `b` (0 and inf at the ends)."""
        edges = self.bin_edges()
        lo = 0.0 if b == 0 else float(edges[b - 1])
        hi = float("inf") if b >= len(edges) else float(edges[b])
        return lo, hi

    def as_row(self) -> dict[str, float | int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def bin_index(activation: np.ndarray, config: FeatureStatsConfig) -> np.ndarray:
    """Histogram bin of each activation: [n] float -> [n] int16; values <= 0 go to bin 0."""
    act = np.asarray(activation, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = (np.log10(act) - config.hist_log10_min) * config.hist_bins_per_decade
    idx = np.floor(np.nan_to_num(scaled, nan=-1.0, neginf=-1.0, posinf=config.n_inner_bins)) + 1
    return np.clip(idx, 0, config.n_bins - 1).astype(np.int16)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, elementwise on uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def prompt_hash(prompt_ids: list[str], seed: int) -> np.ndarray:
    """A 64-bit seeded hash of each prompt id (blake2b): [n] str -> [n] uint64."""
    key = int(seed).to_bytes(8, "little", signed=True)
    out = np.empty(len(prompt_ids), dtype=np.uint64)
    for i, pid in enumerate(prompt_ids):
        digest = hashlib.blake2b(pid.encode(), digest_size=8, key=key).digest()
        out[i] = np.frombuffer(digest, dtype="<u8")[0]
    return out


def sample_priority(prompt_hashes: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Sampling priority of tokens, a function of (seed, prompt_id, position) only.

    prompt_hashes: [n] uint64 from `prompt_hash`; positions: [n] int -> [n] uint64.
    """
    pos = np.asarray(positions).astype(np.uint64)
    with np.errstate(over="ignore"):
        return _splitmix64(prompt_hashes.astype(np.uint64) ^ (pos * _GOLDEN))
