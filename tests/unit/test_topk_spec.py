"""Histogram bins, sampling priorities, batch checks and the full-sort reference, in memory."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from atlas.errors import ConfigError, InputError
from atlas.features.batch import annotate, check_prompts_cover, check_run
from atlas.features.quantiles import assign_buckets
from atlas.features.reference import reference_stats
from atlas.features.spec import FeatureStatsConfig, bin_index, prompt_hash, sample_priority
from atlas.features.synthetic import random_batch

CONFIG = FeatureStatsConfig(hist_log10_min=-2.0, hist_log10_max=2.0, hist_bins_per_decade=5)


def test_bins_agree_with_numpy_histogram_on_log_edges() -> None:
    values = np.random.default_rng(0).lognormal(0.0, 2.5, 20_000)
    edges = np.concatenate([[0.0], CONFIG.bin_edges(), [np.inf]])
    counts, _ = np.histogram(values, bins=edges)
    assert np.bincount(bin_index(values, CONFIG), minlength=CONFIG.n_bins).tolist() == \
        counts.tolist()
    assert counts[0] > 0 and counts[-1] > 0  # the data reaches both open-ended bins


def test_nonpositive_values_go_to_the_underflow_bin() -> None:
    assert bin_index(np.array([0.0, -1.0, 1e-9, 1e9]), CONFIG).tolist() == \
        [0, 0, 0, CONFIG.n_bins - 1]


def test_bin_ranges_chain() -> None:
    ranges = [CONFIG.bin_range(b) for b in range(CONFIG.n_bins)]
    assert ranges[0][0] == 0.0 and ranges[-1][1] == np.inf
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))


@pytest.mark.parametrize("changes", [{"top_k": 0}, {"ctx_left": -1},
                                     {"hist_log10_min": 0.0, "hist_log10_max": 0.05}])
def test_bad_settings_are_refused(changes) -> None:
    with pytest.raises(ConfigError):
        FeatureStatsConfig(**changes)


def test_priority_depends_only_on_seed_prompt_and_position() -> None:
    ids = ["a", "b", "c", "a"]
    pos = np.array([0, 0, 5, 0])
    p = sample_priority(prompt_hash(ids, 7), pos)
    assert p[0] == p[3] and len(set(p[:3].tolist())) == 3
    perm = [2, 0, 3, 1]
    q = sample_priority(prompt_hash([ids[i] for i in perm], 7), pos[perm])
    assert q.tolist() == p[perm].tolist()
    assert sample_priority(prompt_hash(ids, 8), pos).tolist() != p.tolist()


def test_priority_is_roughly_uniform() -> None:
    p = sample_priority(prompt_hash([f"p{i}" for i in range(2000)], 0),
                        np.zeros(2000, dtype=np.int64))
    top_bits = (p >> np.uint64(60)).astype(np.int64)
    counts = np.bincount(top_bits, minlength=16)
    assert counts.min() > 80 and counts.max() < 170  # 125 expected per bucket


def test_annotate_rejects_missing_columns_and_nan() -> None:
    acts, _ = random_batch(np.random.default_rng(0), "r", 3, 1, 4)
    with pytest.raises(InputError, match="lacks column"):
        annotate(acts.drop_columns(["feature"]), CONFIG)
    bad = acts.set_column(acts.schema.get_field_index("activation"), "activation",
                          pa.array([np.nan] * acts.num_rows, pa.float32()))
    with pytest.raises(InputError, match="NaN"):
        annotate(bad, CONFIG)


def test_batch_checks() -> None:
    acts, prompts = random_batch(np.random.default_rng(1), "r", 3, 1, 4, density=0.9)
    with pytest.raises(InputError, match="run 'r'"):
        check_run(acts, "other")
    with pytest.raises(InputError, match="without its token ids"):
        check_prompts_cover(acts, prompts.slice(0, 2))
    with pytest.raises(InputError, match="repeats"):
        check_prompts_cover(acts, pa.concat_tables([prompts, prompts]))


def test_reference_top_k_breaks_ties_by_prompt_then_position() -> None:
    acts = pa.table({"prompt_id": ["b", "a", "a", "c"],
                     "position": pa.array([0, 2, 1, 0], pa.int32()),
                     "layer": pa.array([0] * 4, pa.int16()),
                     "feature": pa.array([0] * 4, pa.int32()),
                     "activation": pa.array([1.0, 1.0, 1.0, 2.0], pa.float32())})
    prompts = pa.table({"prompt_id": ["a", "b", "c"],
                        "token_ids": pa.array([[1, 2, 3], [4], [5]], pa.list_(pa.int32()))})
    ref = reference_stats([(acts, prompts)], FeatureStatsConfig(top_k=3, ctx_left=1, ctx_right=1))
    assert list(zip(ref.top.prompt_id, ref.top.position)) == [("c", 0), ("a", 1), ("a", 2)]
    row = ref.top.iloc[1]
    assert row.ctx_start == 0 and row.ctx_token_ids == [1, 2, 3]
    assert row.ctx_offsets == [1, 2] and row.ctx_values == [1.0, 1.0]


def test_quantile_buckets_cover_each_bin_once_in_order() -> None:
    hist = {3: 10, 4: 50, 5: 5, 6: 5, 9: 20, 12: 10}
    buckets = assign_buckets(hist, 10)
    bins = [b for bucket in buckets for b in bucket.bins]
    assert bins == sorted(hist)
    assert [b.index for b in buckets] == sorted({b.index for b in buckets})
    assert buckets[0].quantile_lo == 0.0 and buckets[-1].quantile_hi == 1.0
    assert all(a.quantile_hi == b.quantile_lo for a, b in zip(buckets, buckets[1:]))
    uniform = assign_buckets({b: 1 for b in range(20)}, 10)
    assert [len(b.bins) for b in uniform] == [2] * 10
    assert assign_buckets({}, 10) == []
