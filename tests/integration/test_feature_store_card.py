"""Feature cards read from a merged store, their Neuronpedia shape, and `atlas feature`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from atlas.cli.main import cli
from atlas.features.card import load_card
from atlas.features.merge import FeatureStatsStore
from atlas.features.neuronpedia import NPFeature, to_neuronpedia
from atlas.features.output_tokens import compute_output_tokens, write_output_tokens
from atlas.features.reference import reference_stats
from atlas.features.spec import FeatureStatsConfig
from atlas.features.synthetic import random_batch
from atlas.stores import duckdb_schema
from atlas.stores.duckdb_store import open_path

CONFIG = FeatureStatsConfig(top_k=6, ctx_left=4, ctx_right=2, samples_per_bin=3,
                            hist_log10_min=-2.0, hist_log10_max=2.0, hist_bins_per_decade=5)
RUN, TS = "run-c", "tc"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> tuple[Path, list[tuple[pa.Table, pa.Table]], np.ndarray]:
    """An atlas home whose DuckDB holds two merged shards and output tokens of layer 1."""
    home = tmp_path_factory.mktemp("home")
    rng = np.random.default_rng(11)
    batches = [random_batch(rng, RUN, 12, 2, 4, max_len=16, density=0.3, tie_step=None)
               for _ in range(4)]
    con = open_path(home / "atlas.duckdb", "512MB", 1)
    duckdb_schema.migrate(con)
    store = FeatureStatsStore(con, CONFIG)
    for shard in range(2):
        with store.merge_shard(RUN, TS, str(shard)) as merge:
            for batch in batches[2 * shard:2 * shard + 2]:
                merge.add_batch(*batch)
    w_dec = rng.normal(size=(4, 8))
    out = compute_output_tokens(w_dec, rng.normal(size=(8, 30)), k=5)
    write_output_tokens(con, RUN, TS, 1, np.arange(4), out, lambda t: f" tok{t}")
    con.close()
    return home, batches, out.pos_ids


def card_of(home: Path, layer: int = 1, feature: int = 2):
    con = open_path(home / "atlas.duckdb", read_only=True)
    try:
        return load_card(con, RUN, TS, layer, feature)
    finally:
        con.close()


def test_card_stats_match_numpy(home) -> None:
    path, batches, _ = home
    card = card_of(path)
    acts = pa.concat_tables([a for a, _ in batches]).to_pandas()
    values = acts[(acts.layer == 1) & (acts.feature == 2)]["activation"].to_numpy(np.float64)
    n_tokens = sum(len(t) for _, p in batches for t in p["token_ids"].to_pylist())
    s = card.stats
    assert (s.n_active, s.n_tokens) == (values.size, n_tokens)
    assert s.frac_active == pytest.approx(values.size / n_tokens)
    assert s.mean_active == pytest.approx(values.mean())
    assert s.std_active == pytest.approx(values.std(), rel=1e-6)
    assert s.max_act == pytest.approx(values.max()) and s.min_act == pytest.approx(values.min())
    assert sum(b.n for b in card.histogram) == s.n_active
    assert sum(b.n_active for b in card.quantile_buckets) == s.n_active


def test_card_examples(home) -> None:
    path, batches, pos_ids = home
    card = card_of(path)
    ref = reference_stats(batches, CONFIG).top
    ref = ref[(ref.layer == 1) & (ref.feature == 2)]
    assert [(e.prompt_id, e.position) for e in card.top_examples] == \
        list(zip(ref.prompt_id, ref.position))
    for e in card.top_examples + [x for b in card.quantile_buckets for x in b.examples]:
        assert e.values[e.index_in_ctx] == pytest.approx(e.activation)
        assert len(e.values) == len(e.token_ids) == len(e.tokens)
    for bucket in card.quantile_buckets:
        assert bucket.examples
        for e in bucket.examples:
            assert bucket.act_lo <= e.activation and (bucket.act_hi is None
                                                      or e.activation < bucket.act_hi)
    assert [t.token_id for t in card.output_pos] == pos_ids[2].tolist()
    assert len(card.output_neg) == 5 and all(t.value < 0 for t in card.output_neg)


def test_neuronpedia_shape(home) -> None:
    path, _, _ = home
    card = card_of(path)
    feature = to_neuronpedia(card, "tiny-model")
    data = json.loads(feature.model_dump_json())
    assert NPFeature.model_validate(data) == feature
    assert data["layer"] == "1-tc" and data["index"] == "2"
    assert sum(data["freq_hist_data_bar_heights"]) == card.stats.n_active
    assert len(data["freq_hist_data_bar_heights"]) == len(data["freq_hist_data_bar_values"])
    assert data["frac_nonzero"] == card.stats.frac_active
    assert data["pos_str"][0] == card.output_pos[0].token
    top = data["activations"][0]
    assert top["maxValue"] == max(top["values"]) == pytest.approx(card.stats.max_act)
    assert top["tokens"][top["maxValueTokenIndex"]] == card.top_examples[0].tokens[
        card.top_examples[0].index_in_ctx]
    with pytest.raises(ValidationError):
        NPFeature.model_validate({**data, "unexpected": 1})
    with pytest.raises(ValidationError):
        NPFeature.model_validate({**data, "pos_values": data["pos_values"][:-1]})


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ATLAS_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "atlas.cli.main", "feature", *args],
                          capture_output=True, text=True, env=env)


def test_cli_json_and_table(home) -> None:
    path, _, _ = home
    result = CliRunner().invoke(cli, ["--home", str(path), "feature", "1/2", "--run", RUN,
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == json.loads(card_of(path).model_dump_json())
    table = CliRunner().invoke(cli, ["--home", str(path), "feature", "1/2", "--run", RUN])
    assert table.exit_code == 0 and "top activations" in table.output
    assert "tok" in table.output and "quantile" in table.output


@pytest.mark.parametrize("args, message", [
    (["1-2", "--run", RUN], "is not LAYER/INDEX"),
    (["1/99", "--run", RUN], "has no statistics"),
    (["1/2", "--run", "nope"], "has no feature statistics"),
    (["1/2", "--run", RUN, "--transcoder-set", "other"], "valid ones are tc"),
])
def test_cli_bad_input_is_one_line(home, args, message) -> None:
    done = run_cli(home[0], *args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and message in lines[0], done.stderr


def test_cli_missing_store(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "1/2", "--run", RUN)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and "does not exist" in lines[0]


def test_card_reader_equals_load_card_on_every_feature(home) -> None:
    """The API's two-statement reader against the six-statement reference, every feature."""
    from atlas.errors import InputError
    from atlas.features.card_reader import CardReader

    con = open_path(home[0] / "atlas.duckdb", read_only=True)
    try:
        reader = CardReader(con)
        assert reader.runs_of(TS) == [RUN] and reader.runs_of("other") == []
        keys = con.execute("SELECT layer, feature FROM feature_stats").fetchall()
        assert len(keys) > 4
        for layer, feature in keys:
            for per_bucket in (1, 4):
                want = load_card(con, RUN, TS, layer, feature, per_bucket=per_bucket)
                assert reader.card(con, RUN, TS, layer, feature, per_bucket=per_bucket) == want
        assert any(load_card(con, RUN, TS, la, f).output_pos for la, f in keys)
        for run, tset, layer, feature in ((RUN, TS, 1, 999), ("nope", TS, 1, 2)):
            with pytest.raises(InputError) as ref:
                load_card(con, run, tset, layer, feature)
            with pytest.raises(InputError) as got:
                reader.card(con, run, tset, layer, feature)
            assert str(got.value) == str(ref.value)
    finally:
        con.close()
