"""Transcoder sets: activations, file round trips (circuit-tracer layout, SAELens), validation."""

import json

import pytest
import torch
from safetensors.torch import save_file

from atlas.errors import InputError
from atlas.transcoders import load_transcoders, random_transcoders, save_transcoders

VARIANTS = [("plt", "relu", False), ("plt", "jumprelu", True), ("plt", "topk", False),
            ("clt", "relu", True), ("clt", "jumprelu", False)]


@pytest.mark.parametrize("kind,act,skip", VARIANTS)
def test_round_trip_keeps_every_output(tmp_path, kind, act, skip):
    tset = random_transcoders(3, 16, 32, kind=kind, activation=act, skip=skip,
                              top_k=3 if act == "topk" else None, input_hook="ln2.hook_normalized")
    save_transcoders(tset, tmp_path / "tc")
    back = load_transcoders(tmp_path / "tc")
    assert back.config.kind == kind and back.config.activation == act
    assert back.config.input_hook == "ln2.hook_normalized"
    x = torch.randn(2, 5, 16)
    acts = [back.encode(i, x[0]) for i in range(3)]
    for i in range(3):
        assert torch.equal(tset.encode(i, x[0]), acts[i])
    inputs = x[0].expand(3, -1, -1)
    assert torch.equal(tset.decode(acts, inputs), back.decode(acts, inputs))


def test_activation_functions():
    tset = random_transcoders(1, 8, 6, activation="topk", top_k=2)
    acts = tset.encode(0, torch.randn(4, 8))
    assert ((acts != 0).sum(-1) <= 2).all()
    jump = random_transcoders(1, 8, 6, activation="jumprelu")
    pre = jump.pre_activation(0, torch.randn(4, 8))
    expected = pre * (pre > jump.threshold[0])
    assert torch.equal(jump.encode(0, torch.randn(4, 8) * 0 + 0), jump.activate(0, jump.b_enc[0]
                                                                            .expand(4, -1)))
    assert torch.equal(jump.activate(0, pre), expected)


def test_circuit_tracer_file_names(tmp_path):
    save_transcoders(random_transcoders(2, 8, 4, kind="clt"), tmp_path / "clt")
    names = sorted(p.name for p in (tmp_path / "clt").iterdir())
    assert names == ["W_dec_0.safetensors", "W_dec_1.safetensors", "W_enc_0.safetensors",
                     "W_enc_1.safetensors", "config.yaml"]
    save_transcoders(random_transcoders(2, 8, 4), tmp_path / "plt")
    assert (tmp_path / "plt" / "layer_1.safetensors").is_file()


def test_shape_error_names_layer_expected_and_actual(tmp_path):
    save_transcoders(random_transcoders(2, 8, 4), tmp_path / "tc")
    bad = {"W_enc": torch.zeros(4, 7), "W_dec": torch.zeros(4, 8), "b_enc": torch.zeros(4),
           "b_dec": torch.zeros(8)}
    save_file(bad, str(tmp_path / "tc" / "layer_1.safetensors"))
    with pytest.raises(InputError, match=r"layer 1: W_enc has shape \[4, 7\], expected \[4, 8\]"):
        load_transcoders(tmp_path / "tc")


def test_validate_for_model():
    tset = random_transcoders(2, 8, 4)
    tset.validate_for_model(2, 8)
    with pytest.raises(InputError, match="cover 2 layers but the model has 3"):
        tset.validate_for_model(3, 8)
    with pytest.raises(InputError, match="expected"):
        tset.validate_for_model(2, 16)


def test_missing_folder_and_bad_kind(tmp_path):
    with pytest.raises(InputError, match="no transcoders"):
        load_transcoders(tmp_path)
    (tmp_path / "config.yaml").write_text("model_kind: nope\n")
    with pytest.raises(InputError, match="model_kind"):
        load_transcoders(tmp_path)


def _write_saelens(folder, layer, tset):
    folder.mkdir(parents=True)
    cfg = {"d_in": 8, "d_sae": 4, "d_out": 8, "architecture": "jumprelu_transcoder",
           "hook_name": f"blocks.{layer}.ln2.hook_normalized",
           "hook_name_out": f"blocks.{layer}.hook_mlp_out", "apply_b_dec_to_input": False}
    (folder / "cfg.json").write_text(json.dumps(cfg))
    save_file({"W_enc": tset.W_enc[layer].T.contiguous(), "b_enc": tset.b_enc[layer],
               "W_dec": tset.W_dec[layer][:, 0].contiguous(), "b_dec": tset.b_dec[layer],
               "threshold": tset.threshold[layer]}, str(folder / "sae_weights.safetensors"))


def test_saelens_folders(tmp_path):
    tset = random_transcoders(2, 8, 4, activation="jumprelu")
    for layer in range(2):
        _write_saelens(tmp_path / f"layer{layer}", layer, tset)
    back = load_transcoders(tmp_path)
    assert back.config.input_hook == "ln2.hook_normalized" and back.config.activation == "jumprelu"
    x = torch.randn(3, 8)
    for layer in range(2):
        assert torch.allclose(back.encode(layer, x), tset.encode(layer, x))
    single = load_transcoders(tmp_path / "layer0")
    assert single.n_layers == 1
