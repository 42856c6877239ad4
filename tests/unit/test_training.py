"""Transcoder training on a tiny demo model: quality, resume, TopK, file layout, bad inputs."""

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file

from atlas.errors import InputError
from atlas.training.config import TrainConfig
from atlas.training.loop import train_transcoders

FAST = TrainConfig(d_transcoder=64, steps=80, batch_tokens=128, buffer_tokens=1024, lr=3e-3,
                   checkpoint_every=0, forward_batch=64)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: on the shared 2-core machine more threads oversubscribe (5x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(model folder, corpus file) of a quickly trained 2-layer demo model."""
    from atlas.demo.corpus import CorpusConfig, build_corpus
    from atlas.demo.model import TinyModelConfig, train_tiny_model

    corpus = build_corpus(config=CorpusConfig(n_states=3, cities_per_state=4, n_symbols=8,
                                              induction_len=3, n_documents=600,
                                              n_eval_induction=10))
    folder = tmp_path_factory.mktemp("demo-model")
    train_tiny_model(corpus, folder, seed=0,
                     config=TinyModelConfig(n_layers=2, d_model=32, n_heads=2, steps=60,
                                            batch_size=32))
    return folder, folder / "corpus.jsonl"


def _train(demo, out, **changes):
    losses = []
    report = train_transcoders(demo[0], demo[1], out, dataclasses.replace(FAST, **changes),
                               progress=lambda s, n, m: losses.append(m["loss"]))
    return report, losses


def test_training_reduces_loss_and_explains_variance(demo, tmp_path):
    report, losses = _train(demo, tmp_path / "tc", activation="topk", k=8)
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10
    assert len(report.fve) == 2 and min(report.fve) > 0.85
    saved = json.loads((tmp_path / "tc" / "training_report.json").read_text())
    assert saved["fve"] == report.fve and saved["steps"] == 80


def test_relu_l1_trades_reconstruction_for_sparsity(demo, tmp_path):
    weak, _ = _train(demo, tmp_path / "weak", l1=0.01)
    strong, _ = _train(demo, tmp_path / "strong", l1=3.0)
    assert min(weak.fve) > 0.9
    assert strong.mean_l0 < weak.mean_l0


@pytest.mark.parametrize("activation", ["relu", "jumprelu", "topk"])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(demo, tmp_path, activation):
    # dead_after=3 makes resampling (and, for topk, the AuxK loss) part of both runs
    changes = dict(steps=40, checkpoint_every=10, resample_every=15, dead_after=3,
                   activation=activation, k=4)
    _train(demo, tmp_path / "straight", **changes)

    def crash(step, total, metrics):
        if step == 25:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train_transcoders(demo[0], demo[1], tmp_path / "resumed",
                          dataclasses.replace(FAST, **changes), progress=crash)
    state = json.loads((tmp_path / "resumed" / "checkpoints" / "state.json").read_text())
    assert state["step"] == 20
    report = train_transcoders(demo[0], demo[1], tmp_path / "resumed",
                               dataclasses.replace(FAST, **changes), resume=True)
    assert report.resumed_from == 20 and report.steps == 40
    for layer in range(2):
        a = load_file(str(tmp_path / "straight" / f"layer_{layer}.safetensors"))
        b = load_file(str(tmp_path / "resumed" / f"layer_{layer}.safetensors"))
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key


def test_jumprelu_l0_penalty_raises_thresholds_and_lowers_l0(demo, tmp_path):
    from atlas.transcoders import load_transcoders

    free, _ = _train(demo, tmp_path / "free", activation="jumprelu", l0=0.0)
    sparse, _ = _train(demo, tmp_path / "sparse", activation="jumprelu", l0=0.3)
    assert sparse.mean_l0 < 0.8 * free.mean_l0 and min(free.fve) > 0.9
    thresholds = load_transcoders(tmp_path / "sparse").threshold
    assert float(torch.stack(thresholds).mean()) > FAST.jumprelu_init_threshold


def test_resume_refuses_other_settings(demo, tmp_path):
    _train(demo, tmp_path / "tc", steps=10)
    with pytest.raises(InputError, match="different settings"):
        train_transcoders(demo[0], demo[1], tmp_path / "tc",
                          dataclasses.replace(FAST, steps=10, d_transcoder=32), resume=True)


def test_topk_has_at_most_k_active(demo, tmp_path):
    from atlas.models import capture_mlp_io, encode_prompt, load_model
    from atlas.transcoders import load_transcoders

    _train(demo, tmp_path / "tc", activation="topk", k=5, steps=20)
    tset = load_transcoders(tmp_path / "tc")
    assert tset.config.activation == "topk" and tset.config.top_k == 5
    loaded = load_model(demo[0])
    ids = encode_prompt(loaded.tokenizer, "copy : s1 s2 s3 s1 s2")
    mlp_in, _ = capture_mlp_io(loaded, ids[None])
    for layer in range(2):
        active = (tset.encode(layer, mlp_in[layer, 0]) > 0).sum(-1)
        assert int(active.max()) <= 5


def test_topk_activation_keeps_exactly_k():
    from atlas.training.module import topk_activation

    pre = torch.randn(7, 3, 50).abs() + 0.01
    assert ((topk_activation(pre, 4) > 0).sum(-1) == 4).all()


@pytest.mark.parametrize("activation", ["relu", "jumprelu"])
def test_output_loads_in_circuit_tracer_and_matches_ours(demo, tmp_path, activation):
    from circuit_tracer.transcoder.single_layer_transcoder import load_transcoder_set

    from atlas.transcoders import load_transcoders

    _train(demo, tmp_path / "tc", activation=activation, steps=20, skip=True)
    paths = {i: str(tmp_path / "tc" / f"layer_{i}.safetensors") for i in range(2)}
    theirs = load_transcoder_set(paths, scan="demo", feature_input_hook="mlp.hook_in",
                                 feature_output_hook="hook_mlp_out", device=torch.device("cpu"),
                                 lazy_encoder=False, lazy_decoder=False)
    ours = load_transcoders(tmp_path / "tc")
    assert theirs.n_layers == 2 and theirs.d_transcoder == 64 and theirs.skip_connection
    x = torch.randn(5, 32)
    for layer in range(2):
        t = theirs[layer]
        assert t.W_enc.shape == (64, 32) and t.W_dec.shape == (64, 32)
        assert t.W_skip.shape == (32, 32)
        acts = ours.encode(layer, x)
        torch.testing.assert_close(t.encode(x), acts)
        ours_out = acts @ ours.W_dec[layer][:, 0] + ours.b_dec[layer] + ours.skip(layer, x)
        torch.testing.assert_close(t.decode(t.encode(x), x), ours_out)


def test_clt_layout_and_export_matches_training_module(demo, tmp_path):
    from atlas.training.module import TrainableTranscoders
    from atlas.transcoders import load_transcoders

    report, _ = _train(demo, tmp_path / "clt", kind="clt", activation="topk", k=4, steps=30,
                       skip=True)
    assert (tmp_path / "clt" / "W_dec_0.safetensors").is_file()
    tset = load_transcoders(tmp_path / "clt")
    assert tset.config.kind == "clt" and tset.W_dec[0].shape == (64, 2, 32)
    assert tset.W_dec[1].shape == (64, 1, 32)
    # the export folds the normalisation scales in: raw-unit reconstructions agree
    module = TrainableTranscoders(dataclasses.replace(FAST, kind="clt", skip=True), 2, 32)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))
        module.in_scale.copy_(torch.tensor([0.5, 3.0]))
        module.out_scale.copy_(torch.tensor([2.0, 0.25]))
    x = torch.randn(6, 2, 32)
    xn, _ = module.normalise(x, x)
    expected = module.decode(module.activate(module.pre_activation(xn)), xn) \
        * module.out_scale[:, None]
    exported = module.export()
    acts = [exported.encode(layer, x[:, layer]) for layer in range(2)]
    torch.testing.assert_close(exported.decode(acts, x.transpose(0, 1)).transpose(0, 1),
                               expected, rtol=1e-4, atol=1e-5)


def test_bad_inputs_are_one_line_errors(demo, tmp_path):
    cases = [(demo[0], tmp_path / "missing.jsonl", "not found"),
             (tmp_path, demo[1], "config.json missing")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"txt": "no text field"}\n')
    cases.append((demo[0], bad, "without a string"))
    for model_dir, corpus, message in cases:
        with pytest.raises(InputError, match=message) as err:
            train_transcoders(model_dir, corpus, tmp_path / "out", FAST)
        assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="--activation"):
        TrainConfig(activation="gelu")


def test_cli_train_and_info(demo, tmp_path):
    from click.testing import CliRunner

    from atlas.cli.main import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["transcoders", "train", "--model", str(demo[0]), "--corpus",
                                 str(demo[1]), "--out", str(tmp_path / "tc"), "--steps", "10",
                                 "--d-transcoder", "32", "--batch-tokens", "64",
                                 "--buffer-tokens", "512", "--activation", "topk", "--k", "3"])
    assert result.exit_code == 0, result.output
    assert "FVE" in result.output
    info = runner.invoke(cli, ["transcoders", "info", str(tmp_path / "tc")])
    assert info.exit_code == 0 and "topk (k=3)" in info.output and "d_transcoder  32" in info.output
    missing = runner.invoke(cli, ["transcoders", "train", "--model", str(demo[0]), "--corpus",
                                  str(tmp_path / "none.txt"), "--out", str(tmp_path / "x")])
    assert missing.exit_code == 1
    errors = [line for line in missing.output.splitlines() if "not found" in line]
    assert len(errors) == 1 and "Traceback" not in missing.output


def test_plain_text_corpus(tmp_path):
    from atlas.training.data import read_corpus

    path = tmp_path / "c.txt"
    path.write_text("first line\n\n{\"text\": \"json line\"}\nthird\n")
    assert read_corpus(path) == ["first line", "json line", "third"]


def test_f1_scores_features_against_the_truth():
    from atlas.demo.probe import _f1

    truth = torch.tensor([True, True, False, False])
    active = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 1, 1]]).T.bool()
    torch.testing.assert_close(_f1(active, truth), torch.tensor([1.0, 2 / 3, 2 / 3, 0.0]))


def test_state_feature_probe_reports_every_planted_state(demo, tmp_path):
    from atlas.demo.planted import load_planted
    from atlas.demo.probe import state_features

    _train(demo, tmp_path / "tc", activation="topk", k=4, steps=10)
    found = state_features(demo[0], tmp_path / "tc")
    assert [f.state for f in found] == sorted(load_planted(demo[0]).two_hop.second_hop)
    for f in found:
        assert 0 <= f.f1 <= 1 and 0 <= f.one_hop_f1 <= 1
        assert 0 <= f.layer < 2 and 0 <= f.feature < 64 and f.position in ("city", "last")
